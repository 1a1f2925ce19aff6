using Shouldly;
using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Tests.Devices;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Vifs.VifOperation;

namespace Xapi.Cqrs.Domain.Tests.Vifs;

/// <summary>VIF.plug / VIF.unplug on a running VM and VIF.destroy (XAPI.md §2.2): Given / When / Then.</summary>
public class VifHotplugTests
{
    private static readonly Guid Task = Guid.NewGuid();

    private static Changes When(RunningVm s, VifOperation op) => VifHotplug.Decide(s.Vm, s.Vif, op, Task, "test", A.Now);

    private static void ThenRefused(RunningVm s, VifOperation op, string code, params string[] parameters) =>
        ((Func<Changes>)(() => When(s, op))).ShouldThrowError(code, parameters);

    [Fact]
    public void Running_vm_detached_vif_plug_marks_it_forwards_it_and_opens_a_task()
    {
        var s = RunningVm.Of();

        var changes = When(s, Plug);

        changes.For(s.Vif.Id).ShouldBeEvents(
            new OperationAdded(Task, "plug", "VIF"),
            new DeviceOperationForwarded(Task, "VIF", "plug", s.Vm.Id, RunningVm.Host));
        changes.For(Task).ShouldBeEvents(new TaskCreated(Task, "VIF.plug", "VIF", s.Vif.Id, "test", A.Now));
        changes.For(s.Vm.Id).ShouldBeEmpty();
    }

    [Fact]
    public void Running_vm_attached_vif_unplug_marks_it_and_forwards_it()
    {
        var s = RunningVm.Of(attached: true);

        When(s, Unplug).For(s.Vif.Id).ShouldBeEvents(
            new OperationAdded(Task, "unplug", "VIF"),
            new DeviceOperationForwarded(Task, "VIF", "unplug", s.Vm.Id, RunningVm.Host));
    }

    [Fact]
    public void Busy_vif_plug_fails_with_other_operation_in_progress_braced()
    {
        var s = RunningVm.Of();
        var other = Guid.NewGuid();
        s = s with { Vif = s.Vif with { CurrentOperations = s.Vif.CurrentOperations.Add(other, Unplug) } };

        ThenRefused(s, Plug, ErrorCodes.OtherOperationInProgress, "VIF", s.Vif.Id.ToString(), "{unplug}", $"{{{other}}}");
    }

    [Fact]
    public void Attached_vif_plug_fails_with_device_already_attached()
    {
        var s = RunningVm.Of(attached: true);

        ThenRefused(s, Plug, ErrorCodes.DeviceAlreadyAttached, s.Vif.Id.ToString());
    }

    [Fact]
    public void Detached_vif_unplug_fails_with_device_already_detached()
    {
        var s = RunningVm.Of();

        ThenRefused(s, Unplug, ErrorCodes.DeviceAlreadyDetached, s.Vif.Id.ToString());
    }

    [Theory]
    [InlineData(VmPowerState.Halted, "halted")]
    [InlineData(VmPowerState.Paused, "paused")]
    public void Not_running_vm_vif_plug_and_unplug_fail_with_vm_bad_power_state(VmPowerState state, string actual)
    {
        var s = RunningVm.Of(powerState: state);

        ThenRefused(s, Plug, ErrorCodes.VmBadPowerState, s.Vm.Id.ToString(), "running", actual);
        ThenRefused(s, Unplug, ErrorCodes.VmBadPowerState, s.Vm.Id.ToString(), "running", actual);
    }

    [Theory]
    [InlineData(VmOperation.CleanShutdown, "clean_shutdown")]
    [InlineData(VmOperation.HardShutdown, "hard_shutdown")]
    [InlineData(VmOperation.Suspend, "suspend")]
    [InlineData(VmOperation.Pause, "pause")]
    public void Vm_shutting_down_suspending_or_pausing_refuses_vif_plug_with_operation_not_allowed(VmOperation op, string wire)
    {
        var s = RunningVm.Of(vmOperations: [op]);

        ThenRefused(s, Plug, ErrorCodes.OperationNotAllowed, $"Current operation on VM:{s.Vm.Id} is {wire}");
    }

    [Fact]
    public void Running_hvm_vm_without_pv_drivers_refuses_vif_plug_and_unplug_with_vm_missing_pv_drivers()
    {
        var plug = RunningVm.Of(domainType: DomainType.Hvm, guest: null);
        var unplug = RunningVm.Of(domainType: DomainType.Hvm, attached: true, guest: null);

        ThenRefused(plug, Plug, ErrorCodes.VmMissingPvDrivers, plug.Vm.Id.ToString());
        ThenRefused(unplug, Unplug, ErrorCodes.VmMissingPvDrivers, unplug.Vm.Id.ToString());
        VifRules.AllowedOperations(plug.Vif, plug.Vm).ShouldNotContain(Plug);
    }

    [Fact]
    public void Running_hvm_vm_with_pv_drivers_can_hot_plug_a_vif()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, guest: RunningVm.PvDrivers);

        When(s, Plug).For(Task).ShouldNotBeEmpty();
        VifRules.AllowedOperations(s.Vif, s.Vm).ShouldContain(Plug);
    }

    [Fact]
    public void Plug_done_sets_currently_attached_removes_the_mark_and_succeeds_the_task()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));
        var step = new VifPlugged(Task, s.Vif.Id, "1", "xenbr0", s.Vif.Mac, A.Now, 3);

        var changes = VifHotplug.Plugged(s.Vm, s.Vif, s.Task(Task), Task, step, A.Now);

        changes.For(s.Vif.Id).ShouldBeEvents(step, new VifCurrentlyAttachedSet(true), new OperationRemoved(Task, "plug", "VIF"));
        changes.For(Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
        s.Apply(changes).Vif.CurrentlyAttached.ShouldBeTrue();
    }

    [Fact]
    public void Unplug_done_clears_currently_attached_and_succeeds_the_task()
    {
        var s = RunningVm.Of(attached: true);
        s = s.Apply(When(s, Unplug));

        var changes = VifHotplug.Unplugged(s.Vm, s.Vif, s.Task(Task), Task, null, A.Now);

        changes.For(s.Vif.Id).ShouldBeEvents(new VifCurrentlyAttachedSet(false), new OperationRemoved(Task, "unplug", "VIF"));
        changes.For(Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
    }

    [Fact]
    public void Plug_failed_removes_the_mark_and_fails_the_task_with_xapis_error()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));

        var changes = VifHotplug.Failed(s.Vif, s.Task(Task), Task, ErrorCodes.InternalError, ["injected fault at vif_plug"], A.Now);

        changes.For(s.Vif.Id).ShouldBeEvents(new OperationRemoved(Task, "plug", "VIF"));
        changes.For(Task).ShouldBeEvents(new TaskFailed(["INTERNAL_ERROR", "injected fault at vif_plug"], A.Now));
        s.Apply(changes).Vif.CurrentlyAttached.ShouldBeFalse();
    }

    [Fact]
    public void Vif_report_for_a_task_already_ended_decides_nothing()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));
        s = s.Apply(VifHotplug.Plugged(s.Vm, s.Vif, s.Task(Task), Task, null, A.Now));

        VifHotplug.Plugged(s.Vm, s.Vif, s.Task(Task), Task, null, A.Now).IsEmpty.ShouldBeTrue();
        VifHotplug.Failed(s.Vif, s.Task(Task), Task, ErrorCodes.InternalError, [], A.Now).IsEmpty.ShouldBeTrue();
    }

    [Fact]
    public void Vif_unplug_whose_mark_a_halt_cleared_fails_its_task_with_vm_bad_power_state()
    {
        var s = RunningVm.Of(attached: true);
        s = s.Apply(When(s, Unplug));
        s = s.Apply(MoveToHalted.Decide(VmDevices.Of(s.Vm, [s.Disk], [s.Vdi], [s.Vif]), null, "test"));

        var changes = VifHotplug.Unplugged(s.Vm, s.Vif, s.Task(Task), Task, null, A.Now);

        changes.For(s.Vif.Id).ShouldBeEmpty();
        changes.For(Task).ShouldBeEvents(new TaskFailed(["VM_BAD_POWER_STATE", s.Vm.Id.ToString(), "running", "halted"], A.Now));
    }

    [Fact]
    public void Vif_operations_past_their_deadline_are_abandoned_finished_or_rolled_back_from_the_hosts_truth()
    {
        var deadline = TimeSpan.FromMinutes(5);
        var plug = RunningVm.Of();
        plug = plug.Apply(When(plug, Plug));
        var unplug = RunningVm.Of(attached: true);
        unplug = unplug.Apply(When(unplug, Unplug));

        VifHotplug.Abandoned(plug.Vm, plug.Vif, plug.Task(Task), Task, deadline, plugged: true, A.Now).For(plug.Vif.Id).ShouldBeEvents(
            new OperationAbandoned(Task, "plug", deadline, "finished"), new VifCurrentlyAttachedSet(true), new OperationRemoved(Task, "plug", "VIF"));
        var rolledBack = VifHotplug.Abandoned(unplug.Vm, unplug.Vif, unplug.Task(Task), Task, deadline, plugged: true, A.Now);
        rolledBack.For(unplug.Vif.Id).ShouldBeEvents(new OperationAbandoned(Task, "unplug", deadline, "rolled back"), new OperationRemoved(Task, "unplug", "VIF"));
        rolledBack.For(Task).ShouldBeEvents(new TaskFailed(["INTERNAL_ERROR", "unplug abandoned: open past its deadline of 00:05:00"], A.Now));
    }

    [Fact]
    public void Detached_vif_destroy_ends_its_stream_and_the_vm_drops_it()
    {
        var s = RunningVm.Of();

        var changes = VifDestroy.Decide(s.Vm, s.Vif);

        changes.For(s.Vif.Id).ShouldBeEvents(new VifDestroyed(s.Vm.Id, "destroyed"));
        changes.For(s.Vm.Id).ShouldBeEvents(new VifRemoved(s.Vif.Id));
        var vm = changes.Fold(s.Vm.Id, s.Vm, (x, e) => x.Evolve(e));
        vm.Vifs.ShouldBeEmpty();
        VifRules.CheckCreate(vm, "1", "02:00:00:00:00:09").Mac.ShouldBe("02:00:00:00:00:09");
        changes.Fold(s.Vif.Id, s.Vif, (x, e) => x.Evolve(e)).Destroyed.ShouldBeTrue();
    }

    [Fact]
    public void Attached_vif_of_a_running_vm_destroy_fails_with_operation_not_allowed()
    {
        var s = RunningVm.Of(attached: true);

        ((Func<Changes>)(() => VifDestroy.Decide(s.Vm, s.Vif)))
            .ShouldThrowError(ErrorCodes.OperationNotAllowed, "VIF currently attached to a running VM");
    }

    [Fact]
    public void Busy_vif_destroy_fails_with_other_operation_in_progress()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));

        ((Func<Changes>)(() => VifDestroy.Decide(s.Vm, s.Vif)))
            .ShouldThrowError(ErrorCodes.OtherOperationInProgress, "VIF", s.Vif.Id.ToString(), "{plug}", $"{{{Task}}}");
    }
}
