using Shouldly;
using Xapi.Cqrs.Domain.Vms;
using Xapi.Cqrs.Testing.Builders;
using static Xapi.Cqrs.Domain.Vms.VmOperation;
using static Xapi.Cqrs.Domain.Vms.VmPowerState;

namespace Xapi.Cqrs.Domain.Tests.Vms;

public class VmLifecycleTests
{
    // §1.2, written out independently of the code: H/P/S/R letters for a plain VM
    // (not a control domain, clone-suspended off, not a snapshot).
    private static readonly Dictionary<VmOperation, string> PowerStateTable = new()
    {
        [Snapshot] = "HPSR", [Clone] = "H", [Copy] = "H", [CreateTemplate] = "HS", [Revert] = "HPSR",
        [Checkpoint] = "PSR", [SnapshotWithQuiesce] = "R", [Provision] = "H", [Start] = "H", [StartOn] = "H",
        [Pause] = "R", [Unpause] = "P", [CleanShutdown] = "R", [CleanReboot] = "R", [HardShutdown] = "PSR",
        [PowerStateReset] = "HPSR", [HardReboot] = "PR", [Suspend] = "R", [Csvm] = "S", [Resume] = "S",
        [ResumeOn] = "S", [PoolMigrate] = "R", [MigrateSend] = "HSR", [GetBootRecord] = "PSR", [SendSysrq] = "R",
        [SendTrigger] = "R", [QueryServices] = "HPSR", [Shutdown] = "PSR", [CallPlugin] = "R",
        [ChangingMemoryLive] = "R", [AwaitingMemoryLive] = "R", [ChangingDynamicRange] = "HR",
        [ChangingStaticRange] = "H", [ChangingMemoryLimits] = "H", [ChangingShadowMemory] = "H",
        [ChangingShadowMemoryLive] = "R", [ChangingVcpus] = "H", [ChangingVcpusLive] = "R", [ChangingNvram] = "H",
        [VmOperation.AssertOperationValid] = "HPSR", [DataSourceOp] = "R", [UpdateAllowedOperations] = "HPSR",
        [MakeIntoTemplate] = "H", [Import] = "", [Export] = "HS", [MetadataExport] = "HPSR", [Reverting] = "HPSR",
        [Destroy] = "HS", [CreateVtpm] = "H", [Sysprep] = "R",
    };

    private static string Letters(IEnumerable<VmPowerState> states) =>
        string.Concat(states.Select(s => s.ToString()[0]));

    [Fact]
    public void Every_operation_has_a_power_state_row_matching_the_table()
    {
        foreach (var op in Enum.GetValues<VmOperation>())
        {
            PowerStateTable.ShouldContainKey(op, $"§1.2 row missing from the test table for {op}");
            Letters(VmLifecycle.AllowedPowerStates(op, isControlDomain: false)).ShouldBe(PowerStateTable[op], $"{op}");
        }
    }

    [Fact]
    public void An_operation_without_a_row_throws()
    {
        Should.Throw<ArgumentOutOfRangeException>(() => VmLifecycle.AllowedPowerStates((VmOperation)999, isControlDomain: false));
    }

    [Theory]
    [InlineData(ChangingVcpus)]
    [InlineData(ChangingStaticRange)]
    [InlineData(ChangingMemoryLimits)]
    public void Control_domain_may_change_vcpus_and_memory_limits_while_running(VmOperation op)
    {
        Letters(VmLifecycle.AllowedPowerStates(op, isControlDomain: true)).ShouldBe("HR");
    }

    [Theory]
    [InlineData(false, false, "H")]
    [InlineData(true, false, "HS")]
    [InlineData(false, true, "HS")]
    public void Clone_from_suspended_only_for_snapshots_or_when_the_pool_allows_it(bool isSnapshot, bool cloneSuspendedEnabled, string expected)
    {
        Letters(VmLifecycle.AllowedPowerStates(Clone, false, cloneSuspendedEnabled, isSnapshot)).ShouldBe(expected);
        Letters(VmLifecycle.AllowedPowerStates(Copy, false, cloneSuspendedEnabled, isSnapshot)).ShouldBe(expected);
    }

    [Fact]
    public void Halted_vm_start_is_allowed()
    {
        VmLifecycle.CheckOperation(A.Vm(powerState: Halted), Start).ShouldBeNull();
    }

    // §11 rule 1
    [Theory]
    [InlineData(Running, "running")]
    [InlineData(Paused, "paused")]
    [InlineData(Suspended, "suspended")]
    public void Running_vm_start_fails_with_bad_power_state(VmPowerState state, string actual)
    {
        var vm = A.Vm(powerState: state);
        VmLifecycle.CheckOperation(vm, Start).ShouldBeError(ErrorCodes.VmBadPowerState, vm.Id.ToString(), "halted", actual);
        VmLifecycle.CheckOperation(vm, StartOn).ShouldBeError(ErrorCodes.VmBadPowerState, vm.Id.ToString(), "halted", actual);
    }

    [Fact]
    public void Bad_power_state_lists_every_allowed_state_in_xapi_order()
    {
        var vm = A.Vm(powerState: Halted);
        VmLifecycle.CheckOperation(vm, HardShutdown)
            .ShouldBeError(ErrorCodes.VmBadPowerState, vm.Id.ToString(), "paused, suspended, running", "halted");
    }

    // §11 rule 2
    [Fact]
    public void Blocked_start_fails_with_operation_blocked_before_any_other_check()
    {
        var vm = A.Vm(powerState: Running, isTemplate: true, currentOperations: [Clone],
            blockedOperations: new Dictionary<VmOperation, string> { [Start] = "Use the portal" });
        VmLifecycle.CheckOperation(vm, Start).ShouldBeError(ErrorCodes.OperationBlocked, vm.Id.ToString(), "Use the portal");
    }

    // §11 rule 3
    [Fact]
    public void Template_start_fails_with_vm_is_template()
    {
        var vm = A.Vm(isTemplate: true);
        VmLifecycle.CheckOperation(vm, Start).ShouldBeError(ErrorCodes.VmIsTemplate, vm.Id.ToString(), "start");
    }

    [Fact]
    public void Default_template_start_fails_with_vm_is_template()
    {
        var vm = A.Vm(isDefaultTemplate: true);
        VmLifecycle.CheckOperation(vm, StartOn).ShouldBeError(ErrorCodes.VmIsTemplate, vm.Id.ToString(), "start_on");
    }

    [Fact]
    public void Snapshot_start_fails_with_vm_is_snapshot()
    {
        // xapi snapshots are also templates; the snapshot rule applies, not the template one
        var vm = A.Vm(isSnapshot: true, isTemplate: true);
        VmLifecycle.CheckOperation(vm, Start).ShouldBeError(ErrorCodes.VmIsSnapshot, vm.Id.ToString(), "start");
    }

    [Fact]
    public void Template_may_be_cloned_and_destroyed_but_a_default_template_not_destroyed()
    {
        VmLifecycle.CheckOperation(A.Vm(isTemplate: true), Clone).ShouldBeNull();
        VmLifecycle.CheckOperation(A.Vm(isTemplate: true), Destroy).ShouldBeNull();
        var byFlag = A.Vm(isDefaultTemplate: true);
        VmLifecycle.CheckOperation(byFlag, Destroy).ShouldBeError(ErrorCodes.VmIsTemplate, byFlag.Id.ToString(), "destroy");
        var byOtherConfig = A.Vm(isTemplate: true, otherConfig: new Dictionary<string, string> { ["default_template"] = "true" });
        VmLifecycle.CheckOperation(byOtherConfig, MigrateSend)
            .ShouldBeError(ErrorCodes.VmIsTemplate, byOtherConfig.Id.ToString(), "migrate_send");
    }

    [Fact]
    public void Provision_on_a_vm_and_revert_on_a_non_snapshot_are_refused()
    {
        VmLifecycle.CheckOperation(A.Vm(), Provision).ShouldBeError(ErrorCodes.ProvisionOnlyAllowedOnTemplate);
        VmLifecycle.CheckOperation(A.Vm(), Revert).ShouldBeError(ErrorCodes.RevertOnlyAllowedOnSnapshot);
        VmLifecycle.CheckOperation(A.Vm(isTemplate: true), Provision).ShouldBeNull();
        VmLifecycle.CheckOperation(A.Vm(isSnapshot: true), Revert).ShouldBeNull();
    }

    // §11 rule 4 (the refusal; waiting and retrying is the application's)
    [Fact]
    public void Cloning_vm_start_fails_with_other_operation_in_progress()
    {
        var vm = A.Vm(currentOperations: [Clone]);
        var task = vm.CurrentOperations.Single().Key;
        VmLifecycle.CheckOperation(vm, Start)
            .ShouldBeError(ErrorCodes.OtherOperationInProgress, "VM", vm.Id.ToString(), "clone", task.ToString());
    }

    [Fact]
    public void Several_operations_in_progress_are_quoted_in_braces_in_a_fixed_order()
    {
        var (t1, t2) = (Guid.Parse("00000000-0000-0000-0000-000000000002"), Guid.Parse("00000000-0000-0000-0000-000000000001"));
        var vm = A.Vm() with
        {
            CurrentOperations = System.Collections.Immutable.ImmutableDictionary<Guid, VmOperation>.Empty
                .Add(t1, Export).Add(t2, Clone),
        };
        VmLifecycle.CheckOperation(vm, Start)
            .ShouldBeError(ErrorCodes.OtherOperationInProgress, "VM", vm.Id.ToString(), "{clone,export}", $"{{{t2},{t1}}}");
    }

    // §11 rule 5: the §1.3 matrix
    [Theory]
    [InlineData(new[] { Clone }, Export, true)]
    [InlineData(new[] { Clone, Copy }, Export, true)]
    [InlineData(new[] { Clone }, Snapshot, false)]
    [InlineData(new[] { Clone, VmOperation.Snapshot }, Copy, false)]
    [InlineData(new[] { Snapshot }, Checkpoint, true)]
    [InlineData(new[] { GetBootRecord }, GetBootRecord, true)]
    [InlineData(new[] { CleanShutdown }, HardShutdown, true)]
    [InlineData(new[] { Clone, CleanReboot }, HardShutdown, true)]
    [InlineData(new[] { HardShutdown }, HardShutdown, false)]
    [InlineData(new[] { CleanShutdown }, HardReboot, true)]
    [InlineData(new[] { HardShutdown }, HardReboot, false)]
    [InlineData(new[] { HardReboot }, HardReboot, false)]
    [InlineData(new[] { SnapshotWithQuiesce }, Snapshot, true)]
    [InlineData(new[] { SnapshotWithQuiesce, Clone }, Snapshot, false)]
    [InlineData(new[] { MigrateSend }, MetadataExport, true)]
    [InlineData(new[] { MigrateSend }, CleanShutdown, true)]
    [InlineData(new[] { MigrateSend }, CleanReboot, true)]
    [InlineData(new[] { MigrateSend }, Start, false)]
    [InlineData(new[] { Export }, StartOn, false)]
    [InlineData(new[] { Start }, Start, false)]
    [InlineData(new VmOperation[0], Start, true)]
    public void Concurrency_matrix_holds(VmOperation[] running, VmOperation op, bool allowed)
    {
        VmLifecycle.IsAllowedConcurrently(op, running).ShouldBe(allowed);
    }

    [Fact]
    public void Hard_shutdown_during_clean_shutdown_passes_the_full_check()
    {
        VmLifecycle.CheckOperation(A.Vm(powerState: Running, currentOperations: [CleanShutdown]), HardShutdown).ShouldBeNull();
    }

    [Fact]
    public void Control_domain_may_start_but_not_clone()
    {
        var vm = A.Vm(isControlDomain: true);
        VmLifecycle.CheckOperation(vm, Start).ShouldBeNull();
        VmLifecycle.CheckOperation(vm, Clone)
            .ShouldBeError(ErrorCodes.OperationNotAllowed, "This operation is not allowed on a control domain");
    }

    [Fact]
    public void Dom0_changing_vcpus_fails_with_operation_not_allowed()
    {
        VmLifecycle.CheckOperation(A.Vm(powerState: Running, isControlDomain: true, domid: 0), ChangingVcpus)
            .ShouldBeError(ErrorCodes.OperationNotAllowed, "This operation is not allowed on dom0");
        VmLifecycle.CheckOperation(A.Vm(powerState: Running, isControlDomain: true, domid: 3), ChangingVcpus).ShouldBeNull();
    }

    [Fact]
    public void Immobile_vm_suspend_fails_only_when_strict()
    {
        var vm = A.Vm(powerState: Running, platform: new Dictionary<string, string> { ["nomigrate"] = "true" });
        VmLifecycle.CheckOperation(vm, Suspend).ShouldBeError(ErrorCodes.VmIsImmobile, vm.Id.ToString());
        VmLifecycle.CheckOperation(vm, Suspend, strict: false).ShouldBeNull();
    }

    [Fact]
    public void Nested_virt_vm_cannot_change_dynamic_range_when_strict()
    {
        var vm = A.Vm(platform: new Dictionary<string, string> { ["nested-virt"] = "1" });
        VmLifecycle.CheckOperation(vm, ChangingDynamicRange).ShouldBeError(ErrorCodes.VmIsUsingNestedVirt, vm.Id.ToString());
        VmLifecycle.CheckOperation(vm, ChangingDynamicRange, strict: false).ShouldBeNull();
    }

    [Fact]
    public void Snapshot_with_quiesce_is_never_supported()
    {
        var vm = A.Vm(powerState: Running);
        VmLifecycle.CheckOperation(vm, SnapshotWithQuiesce).ShouldBeError(ErrorCodes.VmSnapshotWithQuiesceNotSupported, vm.Id.ToString());
    }

    [Fact]
    public void Query_services_needs_a_system_domain()
    {
        var vm = A.Vm();
        VmLifecycle.CheckOperation(vm, QueryServices).ShouldBeError(ErrorCodes.NotSystemDomain, vm.Id.ToString());
        VmLifecycle.CheckOperation(A.Vm(otherConfig: new Dictionary<string, string> { ["is_system_domain"] = "true" }), QueryServices)
            .ShouldBeNull();
    }

    [Fact]
    public void Assert_operation_valid_throws_the_first_refusal()
    {
        var vm = A.Vm(powerState: Running);
        ((Action)(() => VmLifecycle.AssertOperationValid(vm, Start)))
            .ShouldThrowError(ErrorCodes.VmBadPowerState, vm.Id.ToString(), "halted", "running");
    }

    // §11 rule 24
    [Fact]
    public void Halted_vm_allowed_operations_are_the_passing_non_ignored_ops_by_wire_name()
    {
        VmLifecycle.AllowedOperations(A.Vm(powerState: Halted)).Select(o => o.ToWire()).ShouldBe(
        [
            "changing_NVRAM", "changing_dynamic_range", "changing_shadow_memory", "changing_static_range", "clone", "copy",
            "create_vtpm", "destroy", "export", "make_into_template", "metadata_export", "migrate_send", "snapshot", "start",
            "start_on",
        ]);
    }

    [Fact]
    public void Running_vm_allowed_operations_are_the_passing_non_ignored_ops_by_wire_name()
    {
        VmLifecycle.AllowedOperations(WithPvDrivers(A.Vm(powerState: Running))).Select(o => o.ToWire()).ShouldBe(
        [
            "changing_VCPUs_live", "changing_dynamic_range", "checkpoint", "clean_reboot", "clean_shutdown", "hard_reboot",
            "hard_shutdown", "metadata_export", "migrate_send", "pause", "pool_migrate", "snapshot", "suspend", "sysprep",
        ]);
    }

    [Fact]
    public void A_running_hvm_guest_without_pv_drivers_lacks_the_clean_and_suspend_operations()
    {
        var vm = A.Vm(powerState: Running);
        VmLifecycle.AllowedOperations(vm).Select(o => o.ToWire()).ShouldBe(
        [
            "changing_dynamic_range", "hard_reboot", "hard_shutdown", "metadata_export", "pause", "snapshot", "sysprep",
        ]);
        VmLifecycle.CheckOperation(vm, CleanShutdown).ShouldBeError(ErrorCodes.VmLacksFeature, vm.Id.ToString());
        VmLifecycle.CheckOperation(vm, CleanReboot).ShouldBeError(ErrorCodes.VmLacksFeature, vm.Id.ToString());
        VmLifecycle.CheckOperation(vm, CleanShutdown, strict: false).ShouldBeNull();
    }

    [Theory]
    [InlineData("feature-shutdown", true, true)]
    [InlineData("feature-poweroff", true, false)]
    [InlineData("feature-reboot", false, true)]
    public void Clean_shutdown_and_reboot_need_one_of_their_features(string feature, bool shutdown, bool reboot)
    {
        var vm = A.Vm(powerState: Running) with { Guest = new GuestMetrics(true, "9.4.0", [feature], DateTimeOffset.UnixEpoch) };
        (VmLifecycle.CheckOperation(vm, CleanShutdown) is null).ShouldBe(shutdown);
        (VmLifecycle.CheckOperation(vm, CleanReboot) is null).ShouldBe(reboot);
    }

    [Fact]
    public void A_pv_guest_supports_clean_shutdown_without_pv_driver_features()
    {
        VmLifecycle.CheckOperation(A.Vm(powerState: Running, domainType: DomainType.Pv), CleanShutdown).ShouldBeNull();
    }

    private static Vm WithPvDrivers(Vm vm) => vm with
    {
        Guest = new GuestMetrics(true, "9.4.0",
            [GuestMetrics.FeatureShutdown, GuestMetrics.FeaturePoweroff, GuestMetrics.FeatureReboot, GuestMetrics.FeatureSuspend, GuestMetrics.FeatureVcpuHotplug],
            DateTimeOffset.UnixEpoch),
    };

    [Fact]
    public void Allowed_operations_follow_current_operations()
    {
        VmLifecycle.AllowedOperations(A.Vm(currentOperations: [Clone])).ShouldBe([Clone, Copy, Export]);
    }

    [Fact]
    public void Allowed_operations_never_list_ignored_ops()
    {
        var all = Enum.GetValues<VmPowerState>().SelectMany(s => VmLifecycle.AllowedOperations(A.Vm(powerState: s)));
        all.ShouldAllBe(op => !VmLifecycle.IgnoredOperations.Contains(op));
    }
}
