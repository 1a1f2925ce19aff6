using Shouldly;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Vbds.VbdOperation;

namespace Xapi.Cqrs.Domain.Tests.Vbds;

public class VbdRulesTests
{
    private static readonly Guid Vm = Guid.NewGuid();
    private static readonly Guid OtherVm = Guid.NewGuid();

    [Fact]
    public void Idle_vbd_on_a_free_vdi_can_attach()
    {
        var vdi = A.Vdi();
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id), vdi, Vm, vmIsSystemDomain: false).ShouldBeNull();
    }

    [Fact]
    public void Busy_vbd_attach_fails_with_other_operation_in_progress()
    {
        var vdi = A.Vdi(managed: false); // row 1 wins over row 11
        var vbd = A.Vbd(vmId: Vm, vdiId: vdi.Id, currentOperations: [Plug]);
        var task = vbd.CurrentOperations.Single().Key;
        VbdRules.CheckAttach(vbd, vdi, Vm, false)
            .ShouldBeError(ErrorCodes.OtherOperationInProgress, "VBD", vbd.Id.ToString(), "plug", task.ToString());
    }

    [Fact]
    public void Vbd_marked_by_the_same_task_is_not_busy_for_it()
    {
        var vdi = A.Vdi();
        var vbd = A.Vbd(vmId: Vm, vdiId: vdi.Id, currentOperations: [Attach]);
        VbdRules.CheckAttach(vbd, vdi, Vm, false, taskIdToIgnore: vbd.CurrentOperations.Single().Key).ShouldBeNull();
    }

    [Fact]
    public void Unmanaged_vdi_attach_fails_with_vdi_not_managed()
    {
        var vdi = A.Vdi(managed: false);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id), vdi, Vm, false).ShouldBeError(ErrorCodes.VdiNotManaged, vdi.Id.ToString());
    }

    // §11 rule 7
    [Fact]
    public void Vdi_held_rw_by_another_vm_attach_fails_with_vdi_in_use()
    {
        var vdi = A.Vdi(holders: [(Guid.NewGuid(), OtherVm, true)]);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id, mode: VbdMode.RO), vdi, Vm, false)
            .ShouldBeError(ErrorCodes.VdiInUse, vdi.Id.ToString(), "attach");
    }

    [Fact]
    public void Vdi_held_ro_by_another_vm_rw_attach_fails_with_vdi_in_use()
    {
        var vdi = A.Vdi(holders: [(Guid.NewGuid(), OtherVm, false)]);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id, mode: VbdMode.RW), vdi, Vm, false)
            .ShouldBeError(ErrorCodes.VdiInUse, vdi.Id.ToString(), "attach");
    }

    [Fact]
    public void Vdi_held_ro_by_another_vm_ro_attach_is_allowed()
    {
        var vdi = A.Vdi(holders: [(Guid.NewGuid(), OtherVm, false)]);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id, mode: VbdMode.RO), vdi, Vm, false).ShouldBeNull();
    }

    [Fact]
    public void Sharable_vdi_or_system_domain_or_attached_vbd_skips_the_sharing_check()
    {
        var holders = new[] { (Guid.NewGuid(), OtherVm, true) };
        var sharable = A.Vdi(sharable: true, holders: holders);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: sharable.Id), sharable, Vm, false).ShouldBeNull();
        var held = A.Vdi(holders: holders);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: held.Id), held, Vm, vmIsSystemDomain: true).ShouldBeNull();
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: held.Id, currentlyAttached: true), held, Vm, false).ShouldBeNull();
    }

    [Fact]
    public void Own_hold_does_not_count_but_another_vbd_of_the_same_vm_does()
    {
        var vbd = A.Vbd(vmId: Vm);
        var own = A.Vdi(id: vbd.VdiId, holders: [(vbd.Id, Vm, true)]);
        VbdRules.CheckAttach(vbd, own, Vm, false).ShouldBeNull();
        var sibling = A.Vdi(id: vbd.VdiId, holders: [(Guid.NewGuid(), Vm, true)]);
        VbdRules.CheckAttach(vbd, sibling, Vm, false).ShouldBeError(ErrorCodes.VdiInUse, sibling.Id.ToString(), "attach");
    }

    [Fact]
    public void Rw_vbd_on_read_only_vdi_attach_fails_with_vdi_readonly()
    {
        var vdi = A.Vdi(readOnly: true);
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id, mode: VbdMode.RW), vdi, Vm, false)
            .ShouldBeError(ErrorCodes.VdiReadonly, vdi.Id.ToString());
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, vdiId: vdi.Id, mode: VbdMode.RO), vdi, Vm, false).ShouldBeNull();
    }

    [Fact]
    public void Empty_cd_drive_has_no_vdi_checks()
    {
        VbdRules.CheckAttach(A.Vbd(vmId: Vm, type: VbdType.CD, mode: VbdMode.RO, empty: true), null, Vm, false).ShouldBeNull();
    }

    [Fact]
    public void Halted_vm_disk_allows_only_attach()
    {
        VbdRules.AllowedOperations(A.Vbd(), VmPowerState.Halted).ShouldBe([Attach]);
    }

    [Fact]
    public void Running_vm_attached_disk_allows_unplug_and_pause_but_not_plug()
    {
        VbdRules.AllowedOperations(A.Vbd(currentlyAttached: true), VmPowerState.Running)
            .Select(o => o.ToWire()).ShouldBe(["attach", "pause", "unpause", "unplug", "unplug_force"]);
    }

    [Fact]
    public void Running_vm_empty_cd_allows_insert_but_not_eject()
    {
        var cd = A.Vbd(type: VbdType.CD, mode: VbdMode.RO, empty: true, currentlyAttached: true);
        VbdRules.AllowedOperations(cd, VmPowerState.Running)
            .Select(o => o.ToWire()).ShouldBe(["attach", "insert", "pause", "unpause", "unplug", "unplug_force"]);
        VbdRules.CheckOperation(Eject, cd, VmPowerState.Running).ShouldBeError(ErrorCodes.VbdIsEmpty, cd.Id.ToString());
    }

    [Fact]
    public void Suspended_vm_cd_cannot_be_inserted_or_ejected()
    {
        var cd = A.Vbd(type: VbdType.CD, mode: VbdMode.RO, empty: true);
        VbdRules.CheckOperation(Insert, cd, VmPowerState.Suspended)
            .ShouldBeError(ErrorCodes.VmBadPowerState, cd.VmId.ToString(), "halted, running", "suspended");
    }

    [Fact]
    public void Plug_on_halted_vm_fails_with_bad_power_state()
    {
        var vbd = A.Vbd();
        VbdRules.CheckOperation(Plug, vbd, VmPowerState.Halted)
            .ShouldBeError(ErrorCodes.VmBadPowerState, vbd.VmId.ToString(), "running", "halted");
    }

    [Fact]
    public void Plug_while_the_vm_shuts_down_fails_with_operation_not_allowed()
    {
        var vbd = A.Vbd();
        VbdRules.CheckOperation(Plug, vbd, VmPowerState.Running, vmCurrentOperations: [VmOperation.CleanShutdown])
            .ShouldBeError(ErrorCodes.OperationNotAllowed, $"Current operation on VM:{vbd.VmId} is clean_shutdown");
    }

    [Fact]
    public void Not_unpluggable_disk_cannot_be_unplugged()
    {
        var vbd = A.Vbd(unpluggable: false, currentlyAttached: true);
        VbdRules.CheckOperation(Unplug, vbd, VmPowerState.Running).ShouldBeError(ErrorCodes.VbdNotUnpluggable, vbd.Id.ToString());
    }

    [Fact]
    public void Create_cd_rw_fails_with_vbd_cds_must_be_readonly()
    {
        ((Func<string>)(() => VbdRules.CheckCreate(A.Vm(), "3", VbdType.CD, VbdMode.RW, empty: true, vdi: null)))
            .ShouldThrowError(ErrorCodes.VbdCdsMustBeReadonly);
    }

    [Fact]
    public void Create_empty_disk_fails_with_vbd_not_removable_media_in_constructor()
    {
        ((Func<string>)(() => VbdRules.CheckCreate(A.Vm(), "1", VbdType.Disk, VbdMode.RW, empty: true, vdi: null)))
            .ShouldThrowError(ErrorCodes.VbdNotRemovableMedia, "in constructor");
    }

    [Fact]
    public void Create_rw_on_read_only_vdi_fails_with_vdi_readonly()
    {
        var vdi = A.Vdi(readOnly: true);
        ((Func<string>)(() => VbdRules.CheckCreate(A.Vm(), "1", VbdType.Disk, VbdMode.RW, false, vdi)))
            .ShouldThrowError(ErrorCodes.VdiReadonly, vdi.Id.ToString());
    }

    [Fact]
    public void Create_on_migrating_vm_fails_with_other_operation_in_progress()
    {
        var vm = A.Vm(powerState: VmPowerState.Running, currentOperations: [VmOperation.MigrateSend]);
        ((Func<string>)(() => VbdRules.CheckCreate(vm, "1", VbdType.Disk, VbdMode.RW, false, A.Vdi())))
            .ShouldThrowError(ErrorCodes.OtherOperationInProgress, "VM", vm.Id.ToString(), "migrate_send");
    }

    [Theory]
    [InlineData("foo")]
    [InlineData("xvd")]
    [InlineData("255")]
    [InlineData("hde")]
    [InlineData("")]
    public void Create_with_an_invalid_userdevice_fails_with_invalid_device(string userdevice)
    {
        ((Func<string>)(() => VbdRules.CheckCreate(A.Vm(), userdevice, VbdType.Disk, VbdMode.RW, false, A.Vdi())))
            .ShouldThrowError(ErrorCodes.InvalidDevice, userdevice);
    }

    [Fact]
    public void Control_domain_may_use_position_255()
    {
        VbdRules.CheckCreate(A.Vm(isControlDomain: true), "255", VbdType.Disk, VbdMode.RW, false, A.Vdi()).ShouldBe("255");
    }

    [Theory]
    [InlineData("0", "xvda")]
    [InlineData("0", "hda")]
    [InlineData("xvdb", "1")]
    [InlineData("sdc", "hdc")]
    public void Create_on_a_taken_position_fails_with_device_already_exists(string existing, string requested)
    {
        var vm = A.Vm(vbdDevices: [existing]);
        ((Func<string>)(() => VbdRules.CheckCreate(vm, requested, VbdType.Disk, VbdMode.RW, false, A.Vdi())))
            .ShouldThrowError(ErrorCodes.DeviceAlreadyExists, requested);
    }

    [Theory]
    [InlineData(new string[0], "0")]
    [InlineData(new[] { "0", "xvdb" }, "2")]
    [InlineData(new[] { "3" }, "0")]
    public void Autodetect_takes_the_first_free_position(string[] existing, string expected)
    {
        VbdRules.CheckCreate(A.Vm(vbdDevices: existing), "autodetect", VbdType.Disk, VbdMode.RW, false, A.Vdi()).ShouldBe(expected);
    }

    [Fact]
    public void Autodetect_with_every_position_taken_fails_with_invalid_device()
    {
        var vm = A.Vm(vbdDevices: Enumerable.Range(0, 255).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        ((Func<string>)(() => VbdRules.CheckCreate(vm, "autodetect", VbdType.Disk, VbdMode.RW, false, A.Vdi())))
            .ShouldThrowError(ErrorCodes.InvalidDevice, "autodetect");
    }

    [Fact]
    public void Create_keeps_the_userdevice_as_given()
    {
        VbdRules.CheckCreate(A.Vm(vbdDevices: ["0"]), "xvdb", VbdType.Disk, VbdMode.RW, false, A.Vdi()).ShouldBe("xvdb");
    }
}
