using System.Collections.Immutable;
using Shouldly;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Vifs.VifOperation;

namespace Xapi.Cqrs.Domain.Tests.Vifs;

public class VifRulesTests
{
    [Fact]
    public void Idle_vif_can_attach()
    {
        VifRules.CheckAttach(A.Vif()).ShouldBeNull();
    }

    [Fact]
    public void Busy_vif_attach_fails_with_other_operation_in_progress_in_braces()
    {
        var vif = A.Vif(currentOperations: [Plug]);
        var task = vif.CurrentOperations.Single().Key;
        VifRules.CheckAttach(vif).ShouldBeError(ErrorCodes.OtherOperationInProgress, "VIF", vif.Id.ToString(), "{plug}", $"{{{task}}}");
    }

    [Fact]
    public void Several_vif_operations_are_listed_by_name_with_their_tasks()
    {
        var (t1, t2) = (Guid.Parse("00000000-0000-0000-0000-000000000001"), Guid.Parse("00000000-0000-0000-0000-000000000002"));
        var vif = A.Vif() with { CurrentOperations = ImmutableDictionary<Guid, VifOperation>.Empty.Add(t1, Unplug).Add(t2, Attach) };
        VifRules.CheckAttach(vif).ShouldBeError(ErrorCodes.OtherOperationInProgress, "VIF", vif.Id.ToString(), "{attach,unplug}", $"{{{t2},{t1}}}");
    }

    [Fact]
    public void Vif_marked_by_the_same_task_is_not_busy_for_it()
    {
        var vif = A.Vif(currentOperations: [Attach]);
        VifRules.CheckAttach(vif, taskIdToIgnore: vif.CurrentOperations.Single().Key).ShouldBeNull();
    }

    [Fact]
    public void Idle_vifs_are_all_marked()
    {
        var vifs = new[] { A.Vif(device: "0"), A.Vif(device: "1") };
        VifRules.MarkAll(vifs).ShouldBe(vifs.Select(v => v.Id));
        VifRules.MarkAll([]).ShouldBeEmpty();
    }

    // §11 rule 8
    [Fact]
    public void One_busy_vif_fails_marking_with_failed_to_lock_all_vifs()
    {
        var vifs = new[] { A.Vif(device: "0"), A.Vif(device: "1", currentOperations: [Unplug]) };
        ((Func<ImmutableArray<Guid>>)(() => VifRules.MarkAll(vifs)))
            .ShouldThrowError(ErrorCodes.OperationNotAllowed, "Failed to lock all VIFs");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("")]
    [InlineData("1.5")]
    [InlineData("0x1")]
    public void Create_with_a_non_decimal_device_fails_with_invalid_device(string device)
    {
        ((Func<(string, bool)>)(() => VifRules.CheckCreate(A.Vm(), device, "02:00:00:00:00:01")))
            .ShouldThrowError(ErrorCodes.InvalidDevice, device);
    }

    [Theory]
    [InlineData("1", "1")]
    [InlineData("1", "01")]
    public void Create_on_a_taken_device_fails_with_device_already_exists(string existing, string requested)
    {
        var vm = A.Vm(vifDevices: [existing]);
        ((Func<(string, bool)>)(() => VifRules.CheckCreate(vm, requested, "02:00:00:00:00:01")))
            .ShouldThrowError(ErrorCodes.DeviceAlreadyExists, requested);
    }

    [Fact]
    public void Create_with_an_invalid_mac_fails_with_mac_invalid()
    {
        ((Func<(string, bool)>)(() => VifRules.CheckCreate(A.Vm(), "0", "zz:00:00:00:00:01")))
            .ShouldThrowError(ErrorCodes.MacInvalid, "zz:00:00:00:00:01");
    }

    [Fact]
    public void Create_without_mac_derives_it_from_the_mac_seed()
    {
        var vm = A.Vm(otherConfig: new Dictionary<string, string> { ["mac_seed"] = "seed-1" });
        VifRules.CheckCreate(vm, "2", "").ShouldBe((Macs.Derive("seed-1", "2"), true));
    }

    [Fact]
    public void Create_without_mac_and_without_mac_seed_fails_with_mac_invalid()
    {
        ((Func<(string, bool)>)(() => VifRules.CheckCreate(A.Vm(), "0", "")))
            .ShouldThrowError(ErrorCodes.MacInvalid, "");
    }

    [Fact]
    public void Create_keeps_a_given_mac()
    {
        VifRules.CheckCreate(A.Vm(vifDevices: ["0"]), "1", "AA-BB-CC-DD-EE-FF").ShouldBe(("AA-BB-CC-DD-EE-FF", false));
    }

    [Fact]
    public void Halted_vm_vif_allows_only_attach()
    {
        VifRules.AllowedOperations(A.Vif(), VmPowerState.Halted).ShouldBe([Attach]);
        var vif = A.Vif();
        VifRules.CheckOperation(Plug, vif, VmPowerState.Halted)
            .ShouldBeError(ErrorCodes.VmBadPowerState, vif.VmId.ToString(), "running", "halted");
    }

    [Fact]
    public void Running_vm_vif_allows_plug_or_unplug_by_attachment()
    {
        VifRules.AllowedOperations(A.Vif(currentlyAttached: true), VmPowerState.Running).ShouldBe([Attach, Unplug]);
        VifRules.AllowedOperations(A.Vif(), VmPowerState.Running).ShouldBe([Attach, Plug]);
        VifRules.AllowedOperations(A.Vif(reserved: true), VmPowerState.Running).ShouldBe([Attach, Unplug]);
        var attached = A.Vif(currentlyAttached: true);
        VifRules.CheckOperation(Plug, attached, VmPowerState.Running).ShouldBeError(ErrorCodes.DeviceAlreadyAttached, attached.Id.ToString());
    }

    [Fact]
    public void Busy_vif_allows_nothing()
    {
        VifRules.AllowedOperations(A.Vif(currentOperations: [Attach]), VmPowerState.Running).ShouldBeEmpty();
    }

    [Fact]
    public void Vif_plug_while_the_vm_suspends_fails_with_operation_not_allowed()
    {
        var vif = A.Vif();
        VifRules.CheckOperation(Plug, vif, VmPowerState.Running, [VmOperation.Suspend])
            .ShouldBeError(ErrorCodes.OperationNotAllowed, $"Current operation on VM:{vif.VmId} is suspend");
    }
}
