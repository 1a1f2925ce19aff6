using System.Collections.Immutable;
using Shouldly;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.ErrorCodes;
using static Xapi.Cqrs.Domain.Vms.VmOperation;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>The power operations after start as pure decisions (§1.2, §1.3, §1.7), on a VM after a real start (StartedVm).</summary>
public class PowerOperationsTests
{
    private static readonly ImmutableArray<string> AllFeatures =
        [GuestMetrics.FeatureShutdown, GuestMetrics.FeaturePoweroff, GuestMetrics.FeatureReboot];

    /// <summary>A running VM whose booted guest reported PV drivers (so the clean operations are allowed).</summary>
    private static StartedVm Running()
    {
        var running = StartedVm.Start().Resident().Completed();
        return running.Apply(new Streams.Changes().Append(Streams.StreamKind.Vm, running.Vm.Id,
            new GuestMetricsReported(running.Task, StartedVm.Domid, true, "9.4.0", AllFeatures)));
    }

    private static (StartedVm Marked, Guid Task) Begin(StartedVm s, VmOperation op)
    {
        var task = Guid.NewGuid();
        return (s.Apply(PowerOperations.Begin(s.Vm, op, task, "admin", A.Now)), task);
    }

    [Theory]
    [InlineData(Pause, "running")]
    [InlineData(CleanShutdown, "running")]
    [InlineData(CleanReboot, "running")]
    [InlineData(HardReboot, "paused, running")]
    [InlineData(HardShutdown, "paused, suspended, running")]
    public void A_halted_vm_refuses_every_power_operation_with_bad_power_state(VmOperation op, string allowed)
    {
        var s = StartedVm.Start().Failed();
        Should.Throw<XapiException>(() => PowerOperations.Begin(s.Vm, op, Guid.NewGuid(), "admin", A.Now))
            .ShouldBeError(VmBadPowerState, s.Vm.Id.ToString(), allowed, "halted");
    }

    [Fact]
    public void Begin_marks_the_vm_and_creates_the_task()
    {
        var (marked, task) = Begin(Running(), CleanShutdown);
        marked.Vm.CurrentOperations.ShouldContainKeyAndValue(task, CleanShutdown);
        marked.History.Last().Event.ShouldBeOfType<TaskCreated>().Name.ShouldBe("VM.clean_shutdown");
    }

    [Fact]
    public void Pause_done_leaves_the_vm_paused_with_its_host_and_domid()
    {
        var (marked, task) = Begin(Running(), Pause);
        var changes = PowerOperations.Paused(marked.Vm, marked.Host, task, [new DomainPaused(task, StartedVm.Domid)], Guid.NewGuid(), A.Now);
        var after = marked.Apply(changes);

        (after.Vm.PowerState, after.Vm.ResidentOn, after.Vm.Domid).ShouldBe((VmPowerState.Paused, (Guid?)marked.Host.Id, StartedVm.Domid));
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Host.Resident.ShouldContainKey(after.Vm.Id);
        changes.Streams.SelectMany(c => c.Events).OfType<MessageCreated>().ShouldHaveSingleItem().Name.ShouldBe(MessageNames.VmPaused);
        changes.For(task).ShouldHaveSingleItem().ShouldBeOfType<TaskSucceeded>();
        VmLifecycle.AllowedOperations(after.Vm).ShouldContain(Unpause);
    }

    [Theory]
    [InlineData(CleanShutdown)]
    [InlineData(HardShutdown)]
    public void A_shutdown_halts_the_vm_and_gives_everything_back(VmOperation op)
    {
        var (marked, task) = Begin(Running(), op);
        var changes = PowerOperations.ShutDown(marked.Devices, marked.Host, op, task, [new DomainDestroyed(task, StartedVm.Domid)], Guid.NewGuid(), A.Now);
        var after = marked.Apply(changes);

        (after.Vm.PowerState, after.Vm.ResidentOn, after.Vm.Domid, after.Vm.Guest).ShouldBe((VmPowerState.Halted, (Guid?)null, -1L, (GuestMetrics?)null));
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Devices.Vbds.ShouldAllBe(v => !v.CurrentlyAttached && v.CurrentOperations.IsEmpty);
        after.Devices.Vifs.ShouldAllBe(v => !v.CurrentlyAttached && v.CurrentOperations.IsEmpty);
        after.Host.Resident.ShouldNotContainKey(after.Vm.Id);
        after.Host.FreeMemory().ShouldBe(after.Host.MaximumGuestMemory);
        after.Vdi.Holders.Values.ShouldNotContain(h => h.VmId == after.Vm.Id);
        changes.Streams.SelectMany(c => c.Events).OfType<MessageCreated>().ShouldHaveSingleItem().Name.ShouldBe(MessageNames.VmShutdown);
        changes.For(task).ShouldHaveSingleItem().ShouldBeOfType<TaskSucceeded>();

        PowerOperations.ShutDown(after.Devices, after.Host, op, task, [], Guid.NewGuid(), A.Now).IsEmpty.ShouldBeTrue("reported twice: nothing more");
    }

    [Theory]
    [InlineData(CleanReboot)]
    [InlineData(HardReboot)]
    public void A_reboot_keeps_the_vm_running_on_its_host_with_a_new_domid(VmOperation op)
    {
        var running = Running();
        var (marked, task) = Begin(running, op);
        var changes = PowerOperations.Rebooted(marked.Devices, marked.Host, op, task, 12, marked.PluggedVbds, marked.PluggedVifs,
            [new DomainDestroyed(task, StartedVm.Domid), new DomainCreated(task, marked.Host.Id, 12, 0)], Guid.NewGuid(), A.Now);
        var after = marked.Apply(changes);

        (after.Vm.PowerState, after.Vm.ResidentOn, after.Vm.Domid).ShouldBe((VmPowerState.Running, (Guid?)running.Host.Id, 12L));
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Host.Resident[after.Vm.Id].ShouldBe(running.Host.Resident[running.Vm.Id], "the VM never left the host: its charge is unchanged");
        after.Disk.CurrentlyAttached.ShouldBeTrue();
        after.Vif.CurrentlyAttached.ShouldBeTrue();
        after.Vm.Guest.ShouldBeNull("the new boot has not reported yet");
        changes.Streams.SelectMany(c => c.Events).OfType<MessageCreated>().ShouldHaveSingleItem().Name.ShouldBe(MessageNames.VmRebooted);
    }

    [Fact]
    public void A_reboot_whose_rebuild_failed_moves_the_vm_to_halted()
    {
        var (marked, task) = Begin(Running(), HardReboot);
        var after = marked.Apply(PowerOperations.Failed(marked.Devices, marked.Host, HardReboot, task, BootloaderFailed, ["x"], [], domainGone: true, A.Now));

        after.Vm.PowerState.ShouldBe(VmPowerState.Halted);
        after.Host.Resident.ShouldNotContainKey(after.Vm.Id);
        after.History.Last().Event.ShouldBeOfType<TaskFailed>().ErrorInfo.ShouldBe([BootloaderFailed, "x"]);
    }

    [Fact]
    public void A_clean_shutdown_the_guest_ignored_fails_and_leaves_the_vm_running()
    {
        var (marked, task) = Begin(Running(), CleanShutdown);
        var after = marked.Apply(PowerOperations.Failed(marked.Devices, marked.Host, CleanShutdown, task, VmFailedShutdownAcknowledgment,
            [marked.Vm.Id.ToString()], [], domainGone: false, A.Now));

        (after.Vm.PowerState, after.Vm.Domid).ShouldBe((VmPowerState.Running, StartedVm.Domid));
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Host.Resident.ShouldContainKey(after.Vm.Id);
    }

    [Fact]
    public void A_hard_shutdown_overtakes_a_clean_shutdown_and_cancels_its_task()
    {
        var (clean, cleanTask) = Begin(Running(), CleanShutdown);
        var hardTask = Guid.NewGuid();
        var changes = PowerOperations.Begin(clean.Vm, HardShutdown, hardTask, "admin", A.Now);
        var after = clean.Apply(changes);

        after.Vm.CurrentOperations.ShouldBe(new Dictionary<Guid, VmOperation> { [hardTask] = HardShutdown });
        changes.For(cleanTask).ShouldHaveSingleItem().ShouldBeOfType<TaskCancelled>();
        PowerOperations.ShutDown(after.Devices, after.Host, CleanShutdown, cleanTask, [], Guid.NewGuid(), A.Now).IsEmpty
            .ShouldBeTrue("the overtaken shutdown's late report decides nothing");
    }

    [Theory]
    [InlineData(Pause)]
    [InlineData(CleanReboot)]
    [InlineData(CleanShutdown)]
    public void Anything_but_a_hard_operation_during_a_clean_shutdown_is_another_operation_in_progress(VmOperation op)
    {
        var (clean, cleanTask) = Begin(Running(), CleanShutdown);
        Should.Throw<XapiException>(() => PowerOperations.Begin(clean.Vm, op, Guid.NewGuid(), "admin", A.Now))
            .ShouldBeError(OtherOperationInProgress, "VM", clean.Vm.Id.ToString(), "clean_shutdown", cleanTask.ToString());
    }

    [Fact]
    public void A_second_hard_shutdown_is_another_operation_in_progress()
    {
        var (hard, hardTask) = Begin(Running(), HardShutdown);
        Should.Throw<XapiException>(() => PowerOperations.Begin(hard.Vm, HardShutdown, Guid.NewGuid(), "admin", A.Now))
            .ShouldBeError(OtherOperationInProgress, "VM", hard.Vm.Id.ToString(), "hard_shutdown", hardTask.ToString());
    }

    [Fact]
    public void A_running_hvm_guest_without_pv_drivers_lacks_clean_shutdown()
    {
        var s = StartedVm.Start().Resident().Completed();
        Should.Throw<XapiException>(() => PowerOperations.Begin(s.Vm, CleanShutdown, Guid.NewGuid(), "admin", A.Now))
            .ShouldBeError(VmLacksFeature, s.Vm.Id.ToString());
    }

    [Fact]
    public void Round_and_round_halted_running_paused_running_halted_running()
    {
        var s = Running();
        for (var round = 0; round < 3; round++)
        {
            var (pausing, pause) = Begin(s, Pause);
            s = pausing.Apply(PowerOperations.Paused(pausing.Vm, pausing.Host, pause, [], Guid.NewGuid(), A.Now));
            s.Vm.PowerState.ShouldBe(VmPowerState.Paused);

            var (stopping, stop) = Begin(s, HardShutdown);
            s = stopping.Apply(PowerOperations.ShutDown(stopping.Devices, stopping.Host, HardShutdown, stop, [], Guid.NewGuid(), A.Now));
            s.Vm.PowerState.ShouldBe(VmPowerState.Halted);
            s.Host.FreeMemory().ShouldBe(s.Host.MaximumGuestMemory);

            var start = StartDecision.Decide(s.Devices, A.Start(), A.Pool(s.Host));
            start.Accepted.ShouldBeTrue($"round {round}: {start.Refusal}");
            s = new StartedVm(s.Devices, s.Host, start.Request.TaskId, s.History).Apply(start.Changes).Resident().Completed();
            s.Vm.PowerState.ShouldBe(VmPowerState.Running);
        }
    }
}

/// <summary>VM.destroy as a pure decision (§1.2: Halted or Suspended).</summary>
public class VmDestroyTests
{
    [Fact]
    public void A_halted_vm_is_destroyed_with_its_vbds_and_vifs_in_one_decision()
    {
        var halted = StartedVm.Start().Failed();
        var changes = VmDestroy.Decide(halted.Devices, A.Now);
        var after = halted.Apply(changes);

        after.Vm.Destroyed.ShouldBeTrue();
        after.Devices.Vbds.ShouldAllBe(v => v.Destroyed);
        after.Devices.Vifs.ShouldAllBe(v => v.Destroyed);
        changes.For(halted.Vm.Id).ShouldHaveSingleItem().ShouldBeOfType<VmDestroyed>();
    }

    [Theory]
    [InlineData(VmPowerState.Running, "running")]
    [InlineData(VmPowerState.Paused, "paused")]
    public void A_vm_with_a_domain_cannot_be_destroyed(VmPowerState state, string actual)
    {
        var s = StartedVm.Start().Resident().Completed();
        var vm = s.Vm with { PowerState = state };
        Should.Throw<XapiException>(() => VmDestroy.Decide(s.Devices with { Vm = vm }, A.Now))
            .ShouldBeError(VmBadPowerState, vm.Id.ToString(), "halted, suspended", actual);
    }

    [Fact]
    public void A_suspended_vm_gives_its_disks_back_when_destroyed()
    {
        var s = StartedVm.Start().Resident().Completed();
        s.Vdi.Holders.Values.ShouldContain(h => h.VmId == s.Vm.Id);
        var suspended = s with { Devices = s.Devices with { Vm = s.Vm with { PowerState = VmPowerState.Suspended, ResidentOn = null } } };

        var after = suspended.Apply(VmDestroy.Decide(suspended.Devices, A.Now));

        after.Vdi.Holders.Values.ShouldNotContain(h => h.VmId == s.Vm.Id);
    }
}
