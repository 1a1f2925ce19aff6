using System.Collections.Immutable;
using Shouldly;
using Xapi.Cqrs.Domain.Operations;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;

namespace Xapi.Cqrs.Domain.Tests.Vms;

/// <summary>
/// The one mark/unmark plan (XAPI.md §2.3, §3.1 steps 2–4 and 10, §3.2, §1.7; §11 rule 6): what
/// <see cref="DeviceMarks.Mark"/> writes, what <see cref="DeviceMarks.Release"/> gives back, and over whole
/// starts that every OperationAdded gets exactly one OperationRemoved with the same task id.
/// </summary>
public class DeviceMarksTests
{
    [Fact]
    public void Mark_puts_attach_on_every_vbd_and_vif_and_holds_every_disk()
    {
        var vdi = A.Vdi();
        var (disk, cd, vif) = (A.Vbd(vdiId: vdi.Id, userdevice: "0"), A.Vbd(type: VbdType.CD, mode: VbdMode.RO, empty: true, userdevice: "3"), A.Vif());
        var devices = A.Devices(A.Vm(), [disk, cd], [vdi], [vif]);
        var task = Guid.NewGuid();

        var changes = DeviceMarks.Mark(new Changes(), devices, task);

        changes.For(disk.Id).ShouldBeEvents(new OperationAdded(task, "attach", "VBD"));
        changes.For(cd.Id).ShouldBeEvents(new OperationAdded(task, "attach", "VBD"));
        changes.For(vdi.Id).ShouldBeEvents(new VdiHeld(disk.Id, devices.Vm.Id, true, task));
        changes.For(vif.Id).ShouldBeEvents(new OperationAdded(task, "attach", "VIF"));
        changes.For(devices.Vm.Id).ShouldBeEmpty("the VM's own mark is the decision's");
        changes.Streams.Count.ShouldBe(4);
    }

    // Another task's entries (a VBD pause, a host evacuate, a VM clone) are not this task's to remove.
    [Fact]
    public void Release_of_marks_removes_only_the_tasks_own_marks()
    {
        var s = StartedVm.Start();
        var other = Guid.NewGuid();
        var d = s.Devices with
        {
            Vm = s.Vm with { CurrentOperations = s.Vm.CurrentOperations.Add(other, VmOperation.Clone) },
            Vbds = [.. s.Devices.Vbds.Select(v => v with { CurrentOperations = v.CurrentOperations.Add(other, VbdOperation.Pause) })],
        };
        var host = s.Host with { CurrentOperations = s.Host.CurrentOperations.Add(other, "evacuate") };

        var changes = DeviceMarks.Release(new Changes(), d, host, s.Task, Release.Marks);

        changes.For(s.Vm.Id).ShouldBeEvents(new OperationRemoved(s.Task, "start", "VM"));
        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"));
        changes.For(s.Cd.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VBD"));
        changes.For(s.Vif.Id).ShouldBeEvents(new OperationRemoved(s.Task, "attach", "VIF"));
        changes.For(s.Host.Id).ShouldBeEvents(new OperationRemoved(s.Task, "vm_start", "host"));
        changes.For(s.Vdi.Id).ShouldBeEmpty("holds are not marks");
    }

    // A sharable disk held by this VM's VBD and by another VM's: only this VM's hold goes.
    [Fact]
    public void Release_of_holds_gives_back_only_this_vms_holds()
    {
        var s = StartedVm.Start();
        var (otherVbd, otherVm) = (Guid.NewGuid(), Guid.NewGuid());
        var vdi = s.Vdi with { Sharable = true, Holders = s.Vdi.Holders.Add(otherVbd, new VdiHolder(otherVm, true)) };
        var d = s.Devices with { Vdis = s.Devices.Vdis.SetItem(vdi.Id, vdi) };

        var changes = DeviceMarks.Release(new Changes(), d, s.Host, s.Task, Release.Holds);

        changes.Streams.ShouldHaveSingleItem().Id.ShouldBe(vdi.Id);
        changes.For(vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        d.Evolve(changes).Vdis[vdi.Id].Holders.Keys.ShouldBe([otherVbd]);
    }

    [Fact]
    public void Release_of_attachments_detaches_only_attached_devices()
    {
        var s = StartedVm.Start().Resident();

        var changes = DeviceMarks.Release(new Changes(), s.Devices, s.Host, Guid.Empty, Release.Attachments);

        changes.For(s.Disk.Id).ShouldBeEvents(new VbdCurrentlyAttachedSet(false, "xvda"));
        changes.For(s.Vif.Id).ShouldBeEvents(new VifCurrentlyAttachedSet(false));
        changes.Streams.Select(c => c.Id).ShouldBe([s.Disk.Id, s.Vif.Id], ignoreOrder: true);
    }

    [Fact]
    public void Release_with_nothing_to_give_back_decides_nothing()
    {
        var d = A.Devices(A.Vm(), [A.Vbd(empty: true, type: VbdType.CD, mode: VbdMode.RO)], [], [A.Vif()]);
        DeviceMarks.Release(new Changes(), d, A.Host(), Guid.NewGuid(), Release.Marks | Release.Holds | Release.Attachments)
            .IsEmpty.ShouldBeTrue();
    }

    // ---- folds over whole starts: §11 rule 6, and OperationEvents.cs "exactly one OperationRemoved" ----

    [Fact]
    public void Every_mark_of_a_start_that_completes_is_removed_exactly_once()
    {
        var s = StartedVm.Start().Completed();
        AssertEveryMarkRemovedOnce(s.History);
        Holds(s.History).ShouldBe([(s.Vdi.Id, s.Disk.Id, 1, 0)], "the running VM keeps its disk");
    }

    [Fact]
    public void Every_mark_and_hold_of_a_start_that_fails_is_given_back_exactly_once()
    {
        var s = StartedVm.Start().Failed();
        AssertEveryMarkRemovedOnce(s.History);
        Holds(s.History).ShouldBe([(s.Vdi.Id, s.Disk.Id, 1, 1)]);
    }

    [Fact]
    public void Every_mark_and_hold_of_a_start_that_fails_after_the_vm_became_resident_is_given_back_exactly_once()
    {
        var s = StartedVm.Start().Resident().Failed();
        AssertEveryMarkRemovedOnce(s.History);
        Holds(s.History).ShouldBe([(s.Vdi.Id, s.Disk.Id, 1, 1)]);
    }

    private static void AssertEveryMarkRemovedOnce(ImmutableList<Written> history)
    {
        var added = history.Where(w => w.Event is OperationAdded).Select(w => (w.Stream, ((OperationAdded)w.Event).TaskId)).ToList();
        var removed = history.Where(w => w.Event is OperationRemoved).Select(w => (w.Stream, ((OperationRemoved)w.Event).TaskId)).ToList();
        added.Count.ShouldBe(5, "VM, disk, CD, VIF and host");
        added.Distinct().Count().ShouldBe(added.Count);
        removed.ShouldBe(added, ignoreOrder: true);
        history.Where(w => w.Event is OperationAdded).Select(w => w.Kind)
            .ShouldBe([StreamKind.Vm, StreamKind.Vbd, StreamKind.Vbd, StreamKind.Vif, StreamKind.Host], ignoreOrder: true);
    }

    /// <summary>Per VDI and VBD: how many VdiHeld and VdiReleased were written.</summary>
    private static List<(Guid Vdi, Guid Vbd, int Held, int Released)> Holds(ImmutableList<Written> history) =>
    [
        .. history.Where(w => w.Event is VdiHeld or VdiReleased)
            .GroupBy(w => (w.Stream, Vbd: w.Event is VdiHeld h ? h.VbdId : ((VdiReleased)w.Event).VbdId))
            .Select(g => (g.Key.Stream, g.Key.Vbd, g.Count(w => w.Event is VdiHeld), g.Count(w => w.Event is VdiReleased))),
    ];
}
