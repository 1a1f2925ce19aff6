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

namespace Xapi.Cqrs.Domain.Tests.Vbds;

/// <summary>
/// VBD.create, AttachVbd (create, and plug when running), DetachVbd (unplug, then destroy) and VBD.destroy
/// (XAPI.md §2.1 "Other VBD rules"): Given / When / Then on the VM, VBD, VDI and task streams.
/// </summary>
public class VbdLifecycleTests
{
    private static readonly Guid Task = Guid.NewGuid();
    private static readonly Guid NewVbd = Guid.NewGuid();

    private static VbdRequest Disk(Vdi vdi, string userdevice = "2") => new(vdi.Id, userdevice, VbdMode.RW, VbdType.Disk, Bootable: false);

    // --- create and attach

    [Fact]
    public void Create_records_the_vbd_on_the_vm_and_starts_its_stream()
    {
        var vm = A.Vm();
        var vdi = A.Vdi();

        var changes = VbdCreate.Decide(vm, vdi, Disk(vdi), NewVbd);

        changes.For(vm.Id).ShouldBeEvents(new VbdAdded(NewVbd, "2", vdi.Id, "Disk", "RW"));
        changes.For(NewVbd).ShouldBeEvents(new VbdCreated(NewVbd, vm.Id, vdi.Id, "2", VbdMode.RW, VbdType.Disk, false, false, true));
        changes.Streams.Single(c => c.Id == NewVbd).IsNew.ShouldBeTrue();
    }

    [Fact]
    public void Create_of_an_empty_disk_fails_with_vbd_not_removable_media_in_constructor()
    {
        ((Func<Changes>)(() => VbdCreate.Decide(A.Vm(), null, new VbdRequest(null, "1", VbdMode.RW, VbdType.Disk, Empty: true), NewVbd)))
            .ShouldThrowError(ErrorCodes.VbdNotRemovableMedia, "in constructor");
    }

    [Theory]
    [InlineData(VmPowerState.Halted)]
    [InlineData(VmPowerState.Paused)]
    [InlineData(VmPowerState.Suspended)]
    public void Attach_with_plug_on_a_vm_that_is_not_running_only_creates(VmPowerState state)
    {
        var s = RunningVm.Of(powerState: state);
        var vdi = A.Vdi();

        var (changes, plugging) = VbdAttach.Decide(s.Vm, vdi, Disk(vdi), plug: true, NewVbd, Task, "test", A.Now);

        plugging.ShouldBeFalse();
        changes.For(NewVbd).ShouldBeEvents(new VbdCreated(NewVbd, s.Vm.Id, vdi.Id, "2", VbdMode.RW, VbdType.Disk, false, false, true));
        changes.For(Task).ShouldBeEmpty();
        changes.For(vdi.Id).ShouldBeEmpty();
    }

    [Fact]
    public void Attach_with_plug_on_a_running_vm_creates_and_plugs_in_one_commit()
    {
        var s = RunningVm.Of();
        var vdi = A.Vdi();

        var (changes, plugging) = VbdAttach.Decide(s.Vm, vdi, Disk(vdi), plug: true, NewVbd, Task, "test", A.Now);

        plugging.ShouldBeTrue();
        changes.For(s.Vm.Id).ShouldBeEvents(new VbdAdded(NewVbd, "2", vdi.Id, "Disk", "RW"));
        changes.For(NewVbd).ShouldBeEvents(
            new VbdCreated(NewVbd, s.Vm.Id, vdi.Id, "2", VbdMode.RW, VbdType.Disk, false, false, true, Task),
            new OperationAdded(Task, "plug", "VBD"),
            new DeviceOperationForwarded(Task, "VBD", "plug", s.Vm.Id, RunningVm.Host));
        changes.Streams.Single(c => c.Id == NewVbd).IsNew.ShouldBeTrue();
        changes.For(vdi.Id).ShouldBeEvents(new VdiHeld(NewVbd, s.Vm.Id, true, Task));
        changes.For(Task).ShouldBeEvents(new TaskCreated(Task, "VBD.plug", "VBD", NewVbd, "test", A.Now));
    }

    [Fact]
    public void Attach_without_plug_on_a_running_vm_only_creates()
    {
        var s = RunningVm.Of();
        var vdi = A.Vdi();

        var (changes, plugging) = VbdAttach.Decide(s.Vm, vdi, Disk(vdi), plug: false, NewVbd, Task, "test", A.Now);

        plugging.ShouldBeFalse();
        changes.For(Task).ShouldBeEmpty();
    }

    [Fact]
    public void Attach_whose_plug_is_refused_writes_nothing()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, guest: null);
        var vdi = A.Vdi();

        ((Func<(Changes, bool)>)(() => VbdAttach.Decide(s.Vm, vdi, Disk(vdi), plug: true, NewVbd, Task, "test", A.Now)))
            .ShouldThrowError(ErrorCodes.VmMissingPvDrivers, s.Vm.Id.ToString());
    }

    [Fact]
    public void Attach_on_a_taken_position_fails_with_device_already_exists_before_any_plug()
    {
        var s = RunningVm.Of(domainType: DomainType.Hvm, guest: null); // its disk is at "1"
        var vdi = A.Vdi();

        ((Func<(Changes, bool)>)(() => VbdAttach.Decide(s.Vm, vdi, Disk(vdi, "xvdb"), plug: true, NewVbd, Task, "test", A.Now)))
            .ShouldThrowError(ErrorCodes.DeviceAlreadyExists, "xvdb");
    }

    // The choice for a failed attach: destroy the VBD again, as xe vm-disk-add does, and answer the plug's error.
    [Fact]
    public void Attach_whose_plug_fails_on_the_host_destroys_the_new_vbd_and_fails_with_the_plugs_error()
    {
        var s = RunningVm.Of();
        var vdi = A.Vdi();
        var (attach, _) = VbdAttach.Decide(s.Vm, vdi, Disk(vdi), plug: true, NewVbd, Task, "test", A.Now);
        var vm = attach.Fold(s.Vm.Id, s.Vm, (x, e) => x.Evolve(e));
        var vbd = attach.Fold(NewVbd, (Vbd?)null, (x, e) => x?.Evolve(e) ?? Vbd.Start(e))!;
        var heldVdi = attach.Fold(vdi.Id, vdi, (x, e) => x.Evolve(e));
        var task = attach.Fold(Task, (XapiTask?)null, (x, e) => x?.Evolve(e) ?? XapiTask.Start(e));

        var changes = VbdHotplug.Failed(vm, vbd, heldVdi, task, Task, ErrorCodes.InternalError, ["injected fault at vbd_plug"], A.Now);

        changes.For(NewVbd).ShouldBeEvents(new OperationRemoved(Task, "plug", "VBD"), new VbdDestroyed(vm.Id, VbdDestroy.AttachFailed));
        changes.For(vdi.Id).ShouldBeEvents(new VdiReleased(NewVbd));
        changes.For(vm.Id).ShouldBeEvents(new VbdRemoved(NewVbd));
        changes.For(Task).ShouldBeEvents(new TaskFailed(["INTERNAL_ERROR", "injected fault at vbd_plug"], A.Now));
        var after = changes.Fold(vm.Id, vm, (x, e) => x.Evolve(e));
        after.Vbds.ShouldNotContainKey(NewVbd);
        after.Vbds.Keys.ShouldBe(s.Vm.Vbds.Keys);
        changes.Fold(NewVbd, vbd, (x, e) => x.Evolve(e)).Destroyed.ShouldBeTrue();
    }

    [Fact]
    public void Attach_whose_plug_succeeds_keeps_the_vbd_attached()
    {
        var s = RunningVm.Of();
        var vdi = A.Vdi();
        var (attach, _) = VbdAttach.Decide(s.Vm, vdi, Disk(vdi), plug: true, NewVbd, Task, "test", A.Now);
        var vm = attach.Fold(s.Vm.Id, s.Vm, (x, e) => x.Evolve(e));
        var vbd = attach.Fold(NewVbd, (Vbd?)null, (x, e) => x?.Evolve(e) ?? Vbd.Start(e))!;
        var task = attach.Fold(Task, (XapiTask?)null, (x, e) => x?.Evolve(e) ?? XapiTask.Start(e));

        var changes = VbdHotplug.Plugged(vm, vbd, vdi, task, Task, "xvdc", null, A.Now);

        changes.For(vm.Id).ShouldBeEmpty();
        changes.Fold(NewVbd, vbd, (x, e) => x.Evolve(e)).CurrentlyAttached.ShouldBeTrue();
    }

    // --- destroy and detach

    [Fact]
    public void Detached_vbd_destroy_ends_its_stream_and_the_vm_drops_it_so_its_position_is_free_again()
    {
        var s = RunningVm.Of();

        var changes = VbdDestroy.Decide(s.Vm, s.Disk, s.Vdi);

        changes.For(s.Disk.Id).ShouldBeEvents(new VbdDestroyed(s.Vm.Id, "destroyed"));
        changes.For(s.Vm.Id).ShouldBeEvents(new VbdRemoved(s.Disk.Id));
        changes.For(s.Vdi.Id).ShouldBeEmpty("a detached VBD holds nothing");
        var vm = changes.Fold(s.Vm.Id, s.Vm, (x, e) => x.Evolve(e));
        vm.Vbds.ShouldBeEmpty();
        VbdRules.CheckCreate(vm, "1", VbdType.Disk, VbdMode.RW, false, A.Vdi()).ShouldBe("1");
    }

    [Fact]
    public void Attached_vbd_destroy_fails_with_operation_not_allowed()
    {
        var s = RunningVm.Of(attached: true);

        ((Func<Changes>)(() => VbdDestroy.Decide(s.Vm, s.Disk, s.Vdi)))
            .ShouldThrowError(ErrorCodes.OperationNotAllowed, $"VBD '{s.Disk.Id}' still attached to '{s.Vm.Id}'");
    }

    [Fact]
    public void Busy_vbd_destroy_fails_with_other_operation_in_progress()
    {
        var s = RunningVm.Of();
        s = s.Apply(VbdHotplug.Decide(s.Vm, s.Disk, s.Vdi, VbdOperation.Plug, Task, "test", A.Now));

        ((Func<Changes>)(() => VbdDestroy.Decide(s.Vm, s.Disk, s.Vdi)))
            .ShouldThrowError(ErrorCodes.OtherOperationInProgress, "VBD", s.Disk.Id.ToString(), "plug", Task.ToString());
    }

    [Fact]
    public void Detach_unplugs_and_its_report_destroys_the_vbd_in_the_same_commit()
    {
        var s = RunningVm.Of(attached: true);
        var detach = VbdHotplug.Decide(s.Vm, s.Disk, s.Vdi, VbdOperation.Unplug, Task, "test", A.Now, thenDestroy: true);
        detach.For(s.Disk.Id).ShouldBeEvents(
            new OperationAdded(Task, "unplug", "VBD"),
            new DeviceOperationForwarded(Task, "VBD", "unplug", s.Vm.Id, RunningVm.Host, ThenDestroy: true));
        s = s.Apply(detach);

        var changes = VbdHotplug.Unplugged(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, null, A.Now);

        changes.For(s.Disk.Id).ShouldBeEvents(
            new VbdCurrentlyAttachedSet(false, "xvdb"), new OperationRemoved(Task, "unplug", "VBD"), new VbdDestroyed(s.Vm.Id, "detached"));
        changes.For(s.Vdi.Id).ShouldBeEvents(new VdiReleased(s.Disk.Id));
        changes.For(s.Vm.Id).ShouldBeEvents(new VbdRemoved(s.Disk.Id));
        changes.For(Task).ShouldBeEvents(new TaskSucceeded(null, A.Now));
    }

    [Fact]
    public void Detach_whose_unplug_fails_keeps_the_vbd_attached()
    {
        var s = RunningVm.Of(attached: true);
        s = s.Apply(VbdHotplug.Decide(s.Vm, s.Disk, s.Vdi, VbdOperation.Unplug, Task, "test", A.Now, thenDestroy: true));

        var changes = VbdHotplug.Failed(s.Vm, s.Disk, s.Vdi, s.Task(Task), Task, ErrorCodes.InternalError, ["x"], A.Now);

        changes.For(s.Vm.Id).ShouldBeEmpty();
        changes.For(s.Disk.Id).ShouldBeEvents(new OperationRemoved(Task, "unplug", "VBD"));
        s.Apply(changes).Disk.CurrentlyAttached.ShouldBeTrue();
    }

    [Fact]
    public void Destroyed_vbd_state_folds_from_its_events()
    {
        var vm = Guid.NewGuid();
        var vdi = Guid.NewGuid();
        var vbd = Spec.GivenVbd(A.VbdCreated(vm, vdi, NewVbd), new VbdDestroyed(vm, "destroyed"));

        vbd.Destroyed.ShouldBeTrue();
        Spec.GivenVm(A.VmCreated(vm), new VbdAdded(NewVbd, "0", vdi, "Disk", "RW"), new VbdRemoved(NewVbd)).Vbds.ShouldBeEmpty();
    }
}
