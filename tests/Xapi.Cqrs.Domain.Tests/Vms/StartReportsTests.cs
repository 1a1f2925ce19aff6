using Shouldly;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Messages;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>
/// The host side's reports of a start (XAPI.md §6.2–6.3, §3.1 steps 10–12, §3.2, §11 rules 6, 17–19) and
/// the move to Halted (§1.7, §11 rule 23), each given the states after an accepted start.
/// </summary>
public class StartReportsTests
{
    // 1 GiB + 12 MiB overhead (StartDecisionTests), reserved by the start and charged once resident.
    private static readonly MemoryCharge Reserved = new(1.GiB(), 1.GiB(), 1.GiB(), 12.MiB());

    private static IHostStep[] Steps(Guid task) =>
        [new DomainCreated(task, Guid.Empty, StartedVm.Domid, 1036.MiB(), A.Now, 12.5), new DomainBuilt(task, StartedVm.Domid, "", 9, "", 256, 0, A.Now, 3)];

    [Fact]
    public void Steps_report_appends_the_steps_to_the_vm_stream()
    {
        var s = StartedVm.Start();
        var steps = Steps(s.Task);
        var changes = StartReports.Steps(s.Vm, s.Task, steps);
        changes.Streams.ShouldHaveSingleItem().Id.ShouldBe(s.Vm.Id);
        changes.For(s.Vm.Id).ShouldBeEvents(steps);
        s.Apply(changes).Vm.Step.ShouldBe(new TaskStep(s.Task, 0.3, "domain built"));
    }

    // §6.2 step 6, §11 rule 17: resident_on set and scheduled cleared in one step, after the pending steps.
    [Fact]
    public void Resident_report_sets_resident_on_turns_the_reservation_into_residency_and_attaches_plugged_devices()
    {
        var s = StartedVm.Start();
        var steps = Steps(s.Task);
        var changes = s.ReportResident(steps);

        changes.For(s.Vm.Id).ShouldBeEvents(
            steps[0], steps[1], new ResidentOnSet(s.Task, s.Host.Id, StartedVm.Domid, VmPowerState.Running, 1, A.Now));
        changes.For(s.Host.Id).ShouldBeEvents(new VmResidentOnHost(s.Vm.Id, s.Task, Reserved));
        changes.For(s.Disk.Id).ShouldBeEvents(new VbdCurrentlyAttachedSet(true, "xvda"));
        changes.For(s.Vif.Id).ShouldBeEvents(new VifCurrentlyAttachedSet(true));
        changes.Streams.Select(c => c.Id).ShouldBe([s.Vm.Id, s.Host.Id, s.Disk.Id, s.Vif.Id], ignoreOrder: true);

        var after = s.Apply(changes);
        (after.Vm.ResidentOn, after.Vm.ScheduledToBeResidentOn, after.Vm.PowerState, after.Vm.Domid)
            .ShouldBe((s.Host.Id, (Guid?)null, VmPowerState.Running, StartedVm.Domid));
        after.Host.Scheduled.ShouldBeEmpty();
        after.Host.Resident.ShouldHaveSingleItem().ShouldBe(KeyValuePair.Create(s.Vm.Id, Reserved));
        // §3.1: at no point are the VM's resources counted zero times (or twice) on the host.
        after.Host.FreeMemory().ShouldBe(s.Host.FreeMemory());
        (after.Disk.CurrentlyAttached, after.Disk.Device, after.Cd.CurrentlyAttached, after.Vif.CurrentlyAttached)
            .ShouldBe((true, "xvda", false, true));
    }

    [Fact]
    public void Resident_report_charges_what_was_reserved_not_what_the_vm_says_now()
    {
        var s = StartedVm.Start();
        var changed = s with { Devices = s.Devices with { Vm = s.Vm with { MemoryOverhead = 99.MiB() } } };
        changed.ReportResident().For(s.Host.Id).ShouldBeEvents(new VmResidentOnHost(s.Vm.Id, s.Task, Reserved));
    }

    // §3.1 steps 10–12, §9, §11 rules 6, 17, 19.
    [Fact]
    public void Complete_report_removes_every_mark_of_the_task_and_announces_the_start()
    {
        var s = StartedVm.Start().Resident();
        var message = Guid.NewGuid();
        var changes = s.ReportComplete(message);

        changes.For(s.Vm.Id).ShouldBeEvents(new OperationRemoved(s.Task, "start", "VM"), new RrdPushed(s.Task, s.Host.Id, StartedVm.Domid));
        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"));
        changes.For(s.Cd.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"));
        changes.For(s.Vif.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VIF"));
        changes.For(s.Host.Id).ShouldBeEvents(new OperationRemoved(s.Task, "vm_start", "host"));
        changes.For(message).ShouldBeEvents(new MessageCreated(message, "VM_STARTED", 5, "VM", s.Vm.Id,
            $"VM 'vm' (uuid: {s.Vm.Id}) started on host: host (uuid: {s.Host.Id})", A.Now));
        changes.For(s.Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
        changes.For(s.Vdi.Id).ShouldBeEmpty("the disk stays held while the VM runs");
        changes.Streams.Where(c => c.Kind == StreamKind.Message).ShouldHaveSingleItem().IsNew.ShouldBeTrue();
        changes.Streams.Single(c => c.Kind == StreamKind.Task).IsNew.ShouldBeFalse();

        var after = s.Apply(changes);
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Devices.Vbds.ShouldAllBe(v => v.CurrentOperations.IsEmpty);
        after.Devices.Vifs.ShouldAllBe(v => v.CurrentOperations.IsEmpty);
        after.Host.CurrentOperations.ShouldBeEmpty();
        after.Vdi.Holders.ShouldHaveSingleItem().ShouldBe(KeyValuePair.Create(s.Disk.Id, new VdiHolder(s.Vm.Id, true)));
        after.Host.Resident.ShouldContainKey(s.Vm.Id);
    }

    [Fact]
    public void Complete_report_for_a_vm_not_resident_on_that_host_decides_nothing()
    {
        var s = StartedVm.Start();
        s.ReportComplete().IsEmpty.ShouldBeTrue("not resident yet");
        var resident = s.Resident();
        StartReports.Complete(resident.Devices, A.Host(), resident.Task, Guid.NewGuid(), A.Now).IsEmpty.ShouldBeTrue("another host");
    }

    // §3.2, §11 rules 6, 17, 18: the master side is undone; the VM never left Halted.
    [Fact]
    public void Fail_report_clears_the_reservation_every_mark_and_every_disk_hold()
    {
        var s = StartedVm.Start();
        var step = Steps(s.Task)[0];
        var changes = s.ReportFail([step]);

        changes.For(s.Vm.Id).ShouldBeEvents(
            step,
            new StartFailed(s.Task, s.Host.Id, ErrorCodes.BootloaderFailed, [s.Vm.Id.ToString(), "no kernel"]),
            new ScheduledToBeResidentOnCleared(s.Task, s.Host.Id),
            new OperationRemoved(s.Task, "start", "VM"));
        changes.For(s.Host.Id).ShouldBeEvents(new VmUnscheduledFromHost(s.Vm.Id, s.Task), new OperationRemoved(s.Task, "vm_start", "host"));
        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"));
        changes.For(s.Cd.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"));
        changes.For(s.Vif.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VIF"));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        changes.For(s.Task).ShouldBeEvents(new TaskFailed([ErrorCodes.BootloaderFailed, s.Vm.Id.ToString(), "no kernel"], A.Now));
        changes.Streams.ShouldNotContain(c => c.Kind == StreamKind.Message, "no VM_STARTED on failure");
        changes.For(s.Vm.Id).ShouldNotContain(e => e is RrdPushed || e is PowerStateChanged);

        var after = s.Apply(changes);
        AssertUndone(after);
    }

    // §3.2 with §6.2 step 8: the VM had become resident (the event thread owns it) when the start failed.
    [Fact]
    public void Fail_report_after_the_vm_became_resident_also_moves_it_to_halted()
    {
        var s = StartedVm.Start().Resident();
        var changes = s.ReportFail();

        changes.For(s.Vm.Id).ShouldBeEvents(
            new StartFailed(s.Task, s.Host.Id, ErrorCodes.BootloaderFailed, [s.Vm.Id.ToString(), "no kernel"]),
            typeof(PowerStateChanged),
            new RrdArchived(s.Host.Id),
            new OperationRemoved(s.Task, "start", "VM"));
        changes.For(s.Vm.Id).OfType<PowerStateChanged>().Single().PowerState.ShouldBe(VmPowerState.Halted);
        changes.For(s.Host.Id).ShouldBeEvents(new VmLeftHost(s.Vm.Id), new OperationRemoved(s.Task, "vm_start", "host"));
        // The move to Halted clears the devices' current operations (§1.7), then detaches them.
        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"), new VbdCurrentlyAttachedSet(false, "xvda"));
        changes.For(s.Vif.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VIF"), new VifCurrentlyAttachedSet(false));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        changes.For(s.Task).ShouldBeEvents(typeof(TaskFailed));

        AssertUndone(s.Apply(changes));
    }

    private static void AssertUndone(StartedVm after)
    {
        (after.Vm.PowerState, after.Vm.ResidentOn, after.Vm.ScheduledToBeResidentOn, after.Vm.Domid)
            .ShouldBe((VmPowerState.Halted, (Guid?)null, (Guid?)null, -1L));
        after.Vm.CurrentOperations.ShouldBeEmpty();
        after.Devices.Vbds.ShouldAllBe(v => v.CurrentOperations.IsEmpty && !v.CurrentlyAttached);
        after.Devices.Vifs.ShouldAllBe(v => v.CurrentOperations.IsEmpty && !v.CurrentlyAttached);
        after.Host.CurrentOperations.ShouldBeEmpty();
        after.Host.Scheduled.ShouldNotContainKey(after.Vm.Id);
        after.Host.Resident.ShouldNotContainKey(after.Vm.Id);
        after.Host.FreeMemory().ShouldBe(after.Host.MaximumGuestMemory, "nothing else runs there");
        after.Vdi.Holders.Values.ShouldNotContain(h => h.VmId == after.Vm.Id);
    }

    // A report delivered twice, or after a restart, for a start that already ended.
    [Theory]
    [InlineData("completed", "steps")]
    [InlineData("completed", "resident")]
    [InlineData("completed", "complete")]
    [InlineData("completed", "fail")]
    [InlineData("failed", "steps")]
    [InlineData("failed", "resident")]
    [InlineData("failed", "complete")]
    [InlineData("failed", "fail")]
    [InlineData("unknown task", "resident")]
    [InlineData("unknown task", "fail")]
    public void Report_for_a_task_that_is_no_longer_open_decides_nothing(string ended, string report)
    {
        var s = ended switch
        {
            "completed" => StartedVm.Start().Completed(),
            "failed" => StartedVm.Start().Failed(),
            _ => StartedVm.Start() with { Task = Guid.NewGuid() },
        };

        var changes = report switch
        {
            "steps" => StartReports.Steps(s.Vm, s.Task, Steps(s.Task)),
            "resident" => s.ReportResident(),
            "complete" => s.ReportComplete(),
            _ => s.ReportFail(),
        };
        changes.IsEmpty.ShouldBeTrue();
        changes.Streams.ShouldBeEmpty();
    }

    // ---- §1.7, §11 rule 23: the move to Halted ----

    [Fact]
    public void Running_vm_moved_to_halted_leaves_its_host_detaches_its_devices_and_releases_its_disks()
    {
        var s = StartedVm.Start().Completed();
        var changes = MoveToHalted.Decide(s.Devices, s.Host, "domain shut down");

        changes.For(s.Vm.Id).ShouldBeEvents(new PowerStateChanged(VmPowerState.Halted, "domain shut down"), new RrdArchived(s.Host.Id));
        changes.For(s.Host.Id).ShouldBeEvents(new VmLeftHost(s.Vm.Id));
        changes.For(s.Disk.Id).ShouldBeEvents(new VbdCurrentlyAttachedSet(false, "xvda"));
        changes.For(s.Cd.Id).ShouldBeEmpty("the empty drive was never attached");
        changes.For(s.Vif.Id).ShouldBeEvents(new VifCurrentlyAttachedSet(false));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));

        var after = s.Apply(changes);
        (after.Vm.PowerState, after.Vm.ResidentOn, after.Vm.Domid).ShouldBe((VmPowerState.Halted, (Guid?)null, -1L));
        after.Host.Resident.ShouldBeEmpty();
        after.Host.FreeMemory().ShouldBe(after.Host.MaximumGuestMemory);
        after.Vdi.Holders.ShouldBeEmpty();
        after.Devices.Vbds.ShouldAllBe(v => !v.CurrentlyAttached);
        after.Vif.CurrentlyAttached.ShouldBeFalse();
    }

    [Fact]
    public void Halted_vm_moved_to_halted_decides_nothing()
    {
        var s = StartedVm.Start();
        MoveToHalted.Decide(s.Devices, s.Host, "again").IsEmpty.ShouldBeTrue();
        var halted = s.Completed();
        halted = halted.Apply(MoveToHalted.Decide(halted.Devices, halted.Host, "shut down"));
        MoveToHalted.Decide(halted.Devices, halted.Host, "again").IsEmpty.ShouldBeTrue();
    }

    // §1.7: on the move to Halted every VBD's and VIF's current_operations are cleared.
    [Fact]
    public void Running_vm_moved_to_halted_clears_its_devices_current_operations()
    {
        var s = StartedVm.Start().Completed();
        var (unplugVbd, unplugVif) = (Guid.NewGuid(), Guid.NewGuid());
        s = s.Apply(new Changes()
            .Append(StreamKind.Vbd, s.Disk.Id, new OperationAdded(unplugVbd, "unplug", "VBD"))
            .Append(StreamKind.Vif, s.Vif.Id, new OperationAdded(unplugVif, "unplug", "VIF")));

        var changes = MoveToHalted.Decide(s.Devices, s.Host, "domain shut down");

        changes.For(s.Disk.Id).ShouldContain(e => e.Equals(new OperationRemoved(unplugVbd, "unplug", "VBD")));
        changes.For(s.Vif.Id).ShouldContain(e => e.Equals(new OperationRemoved(unplugVif, "unplug", "VIF")));
        var after = s.Apply(changes);
        after.Devices.Vbds.ShouldAllBe(v => v.CurrentOperations.IsEmpty);
        after.Vif.CurrentOperations.ShouldBeEmpty();
    }
}
