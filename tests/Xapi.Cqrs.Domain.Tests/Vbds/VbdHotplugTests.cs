using Shouldly;
using Xapi.Cqrs.Domain.Devices;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Tests.Devices;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Vbds.VbdOperation;

namespace Xapi.Cqrs.Domain.Tests.Vbds;

/// <summary>
/// VBD.plug / VBD.unplug on a running VM (XAPI.md §2.1): Given the VM and its VBD, When the master decides or the host
/// reports, Then each stream's events — or xapi's refusal, code and params, in the table's order.
/// </summary>
public class VbdHotplugTests
{
    private static readonly Guid Task = Guid.NewGuid();

    private static Changes When(RunningVm s, VbdOperation op, bool thenDestroy = false) =>
        VbdHotplug.Decide(s.Vm, s.Disk, s.Vdi, op, Task, "test", A.Now, thenDestroy);

    private static void ThenRefused(RunningVm s, VbdOperation op, string code, params string[] parameters) =>
        ((Func<Changes>)(() => When(s, op))).ShouldThrowError(code, parameters);

    // --- master side: accepted

    [Fact]
    public void Running_vm_detached_vbd_plug_marks_it_forwards_it_to_the_host_holds_the_disk_and_opens_a_task()
    {
        var s = RunningVm.Of();

        var changes = When(s, Plug);

        changes.For(s.Disk.Id).ShouldBeEvents(
            new OperationAdded(Task, "plug", "VBD"),
            new DeviceOperationForwarded(Task, "VBD", "plug", s.Vm.Id, RunningVm.Host));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiHeld(s.Disk.Id, s.Vm.Id, true, Task));
        changes.For(Task).ShouldBeEvents(new TaskCreated(Task, "VBD.plug", "VBD", s.Disk.Id, "test", A.Now));
        changes.For(s.Vm.Id).ShouldBeEmpty("a device operation does not mark the VM");
        changes.Streams.Single(c => c.Id == Task).IsNew.ShouldBeTrue();
    }

    [Fact]
    public void Running_vm_attached_vbd_unplug_marks_it_and_forwards_it_without_touching_the_disk()
    {
        var s = RunningVm.Of(attached: true);

        var changes = When(s, Unplug);

        changes.For(s.Disk.Id).ShouldBeEvents(
            new OperationAdded(Task, "unplug", "VBD"),
            new DeviceOperationForwarded(Task, "VBD", "unplug", s.Vm.Id, RunningVm.Host));
        changes.For(s.Vdi.Id).ShouldBeEmpty();
        changes.For(Task).ShouldBeEvents(new TaskCreated(Task, "VBD.unplug", "VBD", s.Disk.Id, "test", A.Now));
    }

    [Fact]
    public void Running_hvm_vm_with_pv_drivers_can_hot_plug_a_disk()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, guest: RunningVm.PvDrivers);

        When(s, Plug).For(s.Disk.Id).ShouldBeEvents(typeof(OperationAdded), typeof(DeviceOperationForwarded));
    }

    // --- master side: refusals, in §2.1's order

    [Fact]
    public void Busy_vbd_plug_fails_with_other_operation_in_progress()
    {
        var s = RunningVm.Of();
        var other = Guid.NewGuid();
        s = s with { Disk = s.Disk with { CurrentOperations = s.Disk.CurrentOperations.Add(other, Unplug) } };

        ThenRefused(s, Plug, ErrorCodes.OtherOperationInProgress, "VBD", s.Disk.Id.ToString(), "unplug", other.ToString());
    }

    [Fact]
    public void Not_unpluggable_vbd_unplug_fails_with_vbd_not_unpluggable()
    {
        var s = RunningVm.Of(attached: true);
        s = s with { Disk = s.Disk with { Unpluggable = false } };

        ThenRefused(s, Unplug, ErrorCodes.VbdNotUnpluggable, s.Disk.Id.ToString());
    }

    [Fact]
    public void Attached_vbd_plug_fails_with_device_already_attached()
    {
        var s = RunningVm.Of(attached: true);

        ThenRefused(s, Plug, ErrorCodes.DeviceAlreadyAttached, s.Disk.Id.ToString());
    }

    [Fact]
    public void Detached_vbd_unplug_fails_with_device_already_detached()
    {
        var s = RunningVm.Of();

        ThenRefused(s, Unplug, ErrorCodes.DeviceAlreadyDetached, s.Disk.Id.ToString());
    }

    [Theory]
    [InlineData(VmPowerState.Halted, "halted")]
    [InlineData(VmPowerState.Paused, "paused")]
    [InlineData(VmPowerState.Suspended, "suspended")]
    public void Not_running_vm_plug_and_unplug_fail_with_vm_bad_power_state(VmPowerState state, string actual)
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
    public void Vm_shutting_down_suspending_or_pausing_refuses_plug_and_unplug_with_operation_not_allowed(VmOperation op, string wire)
    {
        var plug = RunningVm.Of(vmOperations: [op]);
        var unplug = RunningVm.Of(attached: true, vmOperations: [op]);

        ThenRefused(plug, Plug, ErrorCodes.OperationNotAllowed, $"Current operation on VM:{plug.Vm.Id} is {wire}");
        ThenRefused(unplug, Unplug, ErrorCodes.OperationNotAllowed, $"Current operation on VM:{unplug.Vm.Id} is {wire}");
    }

    [Fact]
    public void Vm_shutting_down_refuses_before_the_pv_driver_check()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, guest: null, vmOperations: [VmOperation.CleanShutdown]);

        ThenRefused(s, Plug, ErrorCodes.OperationNotAllowed, $"Current operation on VM:{s.Vm.Id} is clean_shutdown");
    }

    [Fact]
    public void Running_hvm_vm_without_pv_drivers_refuses_plug_and_unplug_with_vm_missing_pv_drivers()
    {
        var plug = RunningVm.Of(domainType: DomainType.Hvm, guest: null);
        var unplug = RunningVm.Of(domainType: DomainType.Hvm, attached: true, guest: new GuestMetrics(false, "", [], A.Now));

        ThenRefused(plug, Plug, ErrorCodes.VmMissingPvDrivers, plug.Vm.Id.ToString());
        ThenRefused(unplug, Unplug, ErrorCodes.VmMissingPvDrivers, unplug.Vm.Id.ToString());
    }

    [Theory]
    [InlineData(DomainType.Pv)]
    [InlineData(DomainType.Pvh)]
    [InlineData(DomainType.PvInPvh)]
    public void Running_non_hvm_vm_needs_no_pv_drivers_to_hot_plug(DomainType type)
    {
        var s = RunningVm.Of(domainType: type, guest: null);

        When(s, Plug).For(s.Disk.Id).ShouldBeEvents(typeof(OperationAdded), typeof(DeviceOperationForwarded));
    }

    [Fact]
    public void Hvm_cd_drive_can_never_be_hot_plugged_or_unplugged()
    {
        var plug = RunningVm.Of(domainType: DomainType.Hvm, type: VbdType.CD, mode: VbdMode.RO, guest: RunningVm.PvDrivers);
        var unplug = RunningVm.Of(domainType: DomainType.Hvm, type: VbdType.CD, mode: VbdMode.RO, attached: true, guest: RunningVm.PvDrivers);

        ThenRefused(plug, Plug, ErrorCodes.OperationNotAllowed, "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected");
        ThenRefused(unplug, Unplug, ErrorCodes.OperationNotAllowed, "HVM CDROMs cannot be hotplugged/unplugged, only inserted or ejected");
    }

    // xapi records the PV-driver error first, and keeps the first error of an operation.
    [Fact]
    public void Hvm_cd_drive_without_pv_drivers_fails_with_vm_missing_pv_drivers_first()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, type: VbdType.CD, mode: VbdMode.RO, guest: null);

        ThenRefused(s, Plug, ErrorCodes.VmMissingPvDrivers, s.Vm.Id.ToString());
    }

    [Fact]
    public void Disk_held_read_write_by_another_vm_plug_fails_with_vdi_in_use()
    {
        var s = RunningVm.Of();
        s = s with { Vdi = s.Vdi with { Holders = s.Vdi.Holders.Add(Guid.NewGuid(), new VdiHolder(Guid.NewGuid(), true)) } };

        ThenRefused(s, Plug, ErrorCodes.VdiInUse, s.Vdi.Id.ToString(), "plug");
    }

    [Fact]
    public void Read_only_disk_plug_into_a_running_hvm_vm_fails_with_disk_vbd_must_be_readwrite_for_hvm()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, mode: VbdMode.RO, guest: RunningVm.PvDrivers);

        ThenRefused(s, Plug, VbdHotplug.DiskVbdMustBeReadwriteForHvm, s.Disk.Id.ToString());
        When(RunningVm.Of(domainType: DomainType.Pv, mode: VbdMode.RO), Plug).For(Task).ShouldNotBeEmpty("a PV guest takes a read-only disk");
    }

    [Fact]
    public void Allowed_operations_of_a_running_hvm_vm_without_pv_drivers_leave_out_plug()
    {
        var hvm = RunningVm.Of(domainType: DomainType.Hvm, guest: null);
        var withDrivers = RunningVm.Of(domainType: DomainType.Hvm, guest: RunningVm.PvDrivers);

        VbdRules.AllowedOperations(hvm.Disk, hvm.Vm, hvm.Vdi).ShouldNotContain(Plug);
        VbdRules.AllowedOperations(withDrivers.Disk, withDrivers.Vm, withDrivers.Vdi).ShouldContain(Plug);
    }

    // --- host side: reports

    [Fact]
    public void Plug_done_sets_currently_attached_with_the_device_removes_the_mark_and_succeeds_the_task()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));
        var step = new VbdPlugged(Task, s.Disk.Id, "xvdb", "RW", A.Now, 12);

        var changes = VbdHotplug.Plugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, "xvdb", step, A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(step, new VbdCurrentlyAttachedSet(true, "xvdb"), new OperationRemoved(Task, "plug", "VBD"));
        changes.For(Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
        changes.For(s.Vdi.Id).ShouldBeEmpty("the disk stays held while attached");
        var after = s.Apply(changes);
        after.Disk.CurrentlyAttached.ShouldBeTrue();
        after.Disk.Device.ShouldBe("xvdb");
        after.Disk.CurrentOperations.ShouldBeEmpty();
        after.Vdi.Holders.ShouldContainKey(s.Disk.Id);
    }

    [Fact]
    public void Unplug_done_clears_currently_attached_releases_the_disk_and_succeeds_the_task()
    {
        var s = RunningVm.Of(attached: true);
        s = s.Apply(When(s, Unplug));

        var changes = VbdHotplug.Unplugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, null, A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(new VbdCurrentlyAttachedSet(false, "xvdb"), new OperationRemoved(Task, "unplug", "VBD"));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        changes.For(Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
        changes.For(s.Vm.Id).ShouldBeEmpty("an unplug does not destroy the VBD");
    }

    [Fact]
    public void Plug_failed_removes_the_mark_gives_the_disk_back_and_fails_the_task_with_xapis_error()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));

        var changes = VbdHotplug.Failed(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, ErrorCodes.InternalError, ["injected fault at vbd_plug"], A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(Task, "plug", "VBD"));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        changes.For(Task).ShouldBeEvents(new TaskFailed(["INTERNAL_ERROR", "injected fault at vbd_plug"], A.Now));
        var after = s.Apply(changes);
        after.Disk.CurrentlyAttached.ShouldBeFalse();
        after.Vdi.Holders.ShouldBeEmpty();
        after.Task(Task)!.Status.ShouldBe(Domain.Tasks.TaskStatus.Failure);
    }

    [Fact]
    public void Unplug_failed_removes_the_mark_keeps_the_disk_attached_and_held()
    {
        var s = RunningVm.Of(attached: true);
        s = s.Apply(When(s, Unplug));

        var changes = VbdHotplug.Failed(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, ErrorCodes.InternalError, ["x"], A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(Task, "unplug", "VBD"));
        changes.For(s.Vdi.Id).ShouldBeEmpty();
        s.Apply(changes).Disk.CurrentlyAttached.ShouldBeTrue();
    }

    [Fact]
    public void Report_for_a_task_already_ended_decides_nothing()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));
        s = s.Apply(VbdHotplug.Plugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, "xvdb", null, A.Now));

        VbdHotplug.Plugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, "xvdb", null, A.Now).IsEmpty.ShouldBeTrue();
        VbdHotplug.Failed(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, ErrorCodes.InternalError, [], A.Now).IsEmpty.ShouldBeTrue();
        VbdHotplug.Interrupted(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, Plug, A.Now).IsEmpty.ShouldBeTrue();
    }

    // §1.7: the move to Halted clears every device operation but does not end their tasks.
    [Fact]
    public void Plug_whose_mark_a_halt_cleared_fails_its_task_with_vm_bad_power_state()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));
        s = s.Apply(MoveToHalted.Decide(VmDevices.Of(s.Vm, [s.Disk], [s.Vdi], [s.Vif]), null, "test"));
        s.Disk.CurrentOperations.ShouldBeEmpty();

        var changes = VbdHotplug.Plugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, "xvdb", null, A.Now);

        changes.For(s.Disk.Id).ShouldBeEmpty("nothing of a halted VM's device changes");
        changes.For(Task).ShouldBeEvents(new TaskFailed(["VM_BAD_POWER_STATE", s.Vm.Id.ToString(), "running", "halted"], A.Now));
    }

    [Fact]
    public void Attach_whose_vm_halted_and_was_destroyed_before_the_host_acted_only_fails_its_task()
    {
        var s = RunningVm.Of();
        s = s.Apply(VbdHotplug.Decide(s.Vm, s.Disk, s.Vdi, Plug, Task, "test", A.Now));
        s = s with { Disk = s.Disk with { AttachTaskId = Task } };
        s = s.Apply(MoveToHalted.Decide(VmDevices.Of(s.Vm, [s.Disk], [s.Vdi], [s.Vif]), null, "test"));
        s = s.Apply(VmDestroy.Decide(VmDevices.Of(s.Vm, [s.Disk], [s.Vdi], [s.Vif]), A.Now));
        s.Disk.Destroyed.ShouldBeTrue();

        var changes = VbdHotplug.Interrupted(s.Vm, s.Disk, null, s.Task(Task), Task, Plug, A.Now);

        changes.Streams.Select(c => c.Id).ShouldBe([Task], "nothing of the destroyed VBD or VM is written again");
        changes.For(Task).ShouldBeEvents(new TaskFailed(["VM_BAD_POWER_STATE", s.Vm.Id.ToString(), "running", "halted"], A.Now));
    }

    [Fact]
    public void Plug_past_its_deadline_rolled_back_by_the_host_is_abandoned_and_fails()
    {
        var s = RunningVm.Of();
        s = s.Apply(When(s, Plug));
        var deadline = TimeSpan.FromMinutes(5);

        var changes = VbdHotplug.Abandoned(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, deadline, plugged: false, "xvdb", A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(new OperationAbandoned(Task, "plug", deadline, "rolled back"), new OperationRemoved(Task, "plug", "VBD"));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        changes.For(Task).ShouldBeEvents(new TaskFailed(["INTERNAL_ERROR", "plug abandoned: open past its deadline of 00:05:00"], A.Now));
    }

    [Fact]
    public void Unplug_past_its_deadline_whose_device_is_gone_is_abandoned_as_finished()
    {
        var s = RunningVm.Of(attached: true);
        s = s.Apply(When(s, Unplug));
        var deadline = TimeSpan.FromMinutes(5);

        var changes = VbdHotplug.Abandoned(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, deadline, plugged: false, "xvdb", A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(
            new OperationAbandoned(Task, "unplug", deadline, "finished"), new VbdCurrentlyAttachedSet(false, "xvdb"), new OperationRemoved(Task, "unplug", "VBD"));
        changes.For(Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
        VbdHotplug.Abandoned(s.Apply(changes).Vm, s.Apply(changes).Disk, s.Vdi, s.Apply(changes).Task(Task), Task, deadline, false, "xvdb", A.Now)
            .IsEmpty.ShouldBeTrue("an operation no longer open is not abandoned twice");
    }

    [Fact]
    public void Every_mark_of_a_plug_and_an_unplug_is_removed_once()
    {
        var s = RunningVm.Of();
        var unplugTask = Guid.NewGuid();
        var all = new List<object>();
        void Run(Changes c)
        {
            all.AddRange(c.Streams.SelectMany(x => x.Events));
            s = s.Apply(c);
        }

        Run(When(s, Plug));
        Run(VbdHotplug.Plugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, "xvdb", null, A.Now));
        Run(VbdHotplug.Decide(s.Vm, s.Disk, s.Vdi, Unplug, unplugTask, "test", A.Now));
        Run(VbdHotplug.Unplugged(s.Vm, s.Disk, s.Vdi, s.Task(unplugTask), unplugTask, null, A.Now));

        all.OfType<OperationAdded>().Select(o => (o.TaskId, o.Operation)).ShouldBe(all.OfType<OperationRemoved>().Select(o => (o.TaskId, o.Operation)));
        s.Disk.CurrentlyAttached.ShouldBeFalse();
        s.Vdi.Holders.ShouldBeEmpty();
        s.Tasks.Values.ShouldAllBe(t => t.Status == Domain.Tasks.TaskStatus.Success);
    }
}
