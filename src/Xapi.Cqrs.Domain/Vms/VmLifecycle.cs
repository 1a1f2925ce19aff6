using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Operations;
using static Xapi.Cqrs.Domain.Vms.VmOperation;
using static Xapi.Cqrs.Domain.Vms.VmPowerState;

namespace Xapi.Cqrs.Domain.Vms;

/// <summary>
/// Which VM operation is allowed when (XAPI.md §1, ocaml/xapi/xapi_vm_lifecycle.ml): the power-state
/// table (§1.2), the concurrency rules (§1.3), the ordered checks of <c>check_operation_error</c>
/// (§1.4) and the advisory allowed_operations list (§1.5). Pure functions of the VM state.
/// </summary>
public static class VmLifecycle
{
    private static readonly ImmutableArray<VmPowerState> Never = [];
    private static readonly ImmutableArray<VmPowerState> H = [Halted];
    private static readonly ImmutableArray<VmPowerState> P = [Paused];
    private static readonly ImmutableArray<VmPowerState> S = [Suspended];
    private static readonly ImmutableArray<VmPowerState> R = [Running];
    private static readonly ImmutableArray<VmPowerState> HR = [Halted, Running];
    private static readonly ImmutableArray<VmPowerState> HS = [Halted, Suspended];
    private static readonly ImmutableArray<VmPowerState> PR = [Paused, Running];
    private static readonly ImmutableArray<VmPowerState> PSR = [Paused, Suspended, Running];
    private static readonly ImmutableArray<VmPowerState> HSR = [Halted, Suspended, Running];
    private static readonly ImmutableArray<VmPowerState> HPSR = [Halted, Paused, Suspended, Running];

    /// <summary>
    /// §1.2 (<c>allowed_power_states</c>): the power states in which <paramref name="op"/> may run, in
    /// xapi's order (halted, paused, suspended, running), which is also the order of the "allowed"
    /// parameter of VM_BAD_POWER_STATE. Every operation has a row; an operation added to the enum
    /// without one throws here (and the test that walks every enum value fails).
    /// </summary>
    /// <param name="op">The operation.</param>
    /// <param name="isControlDomain">Control domains may change vCPUs and memory limits while Running.</param>
    /// <param name="cloneSuspendedEnabled">Pool-wide <c>Helpers.clone_suspended_vm_enabled</c>.</param>
    /// <param name="isSnapshot">Snapshots may be cloned/copied while Suspended.</param>
    public static ImmutableArray<VmPowerState> AllowedPowerStates(
        VmOperation op, bool isControlDomain, bool cloneSuspendedEnabled = false, bool isSnapshot = false) => op switch
        {
            Import => Never, // acts on a stream, not a VM
            Start or StartOn or Provision or MakeIntoTemplate or ChangingShadowMemory or ChangingNvram or CreateVtpm => H,
            ChangingVcpus or ChangingStaticRange or ChangingMemoryLimits => isControlDomain ? HR : H,
            ChangingDynamicRange => HR,
            Unpause => P,
            Resume or ResumeOn or Csvm => S,
            Pause or Suspend or CleanShutdown or CleanReboot or PoolMigrate or SendSysrq or SendTrigger or CallPlugin
                or SnapshotWithQuiesce or Sysprep or DataSourceOp or ChangingMemoryLive or AwaitingMemoryLive
                or ChangingShadowMemoryLive or ChangingVcpusLive => R,
            HardReboot => PR,
            Shutdown or HardShutdown or Checkpoint or GetBootRecord => PSR,
            Destroy or Export or CreateTemplate => HS,
            Clone or Copy => isSnapshot || cloneSuspendedEnabled ? HS : H,
            MigrateSend => HSR,
            Snapshot or Revert or Reverting or MetadataExport or PowerStateReset or VmOperation.AssertOperationValid
                or UpdateAllowedOperations or QueryServices => HPSR,
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "VM operation without a row in the §1.2 power-state table"),
        };

    private static readonly ImmutableArray<ImmutableHashSet<VmOperation>> CompatibleGroups =
        [[Clone, Copy, Export], [Snapshot, Checkpoint], [GetBootRecord]];

    /// <summary>
    /// §1.3 (<c>is_allowed_concurrently</c>): may <paramref name="op"/> join the operations already in
    /// current_operations? True when nothing runs (xapi only consults the rules for a non-empty set).
    /// Otherwise one of: (1) op and every running op in one group of {clone, copy, export},
    /// {snapshot, checkpoint}, {get_boot_record}; (2) hard_shutdown unless a hard_shutdown runs;
    /// (3) hard_reboot unless a hard_shutdown or hard_reboot runs; (4) exactly [snapshot_with_quiesce]
    /// running and op = snapshot, or exactly [migrate_send] running and op ∈ {metadata_export,
    /// clean_shutdown, clean_reboot}. Nothing else, so start/start_on never join anything.
    /// </summary>
    public static bool IsAllowedConcurrently(VmOperation op, IReadOnlyCollection<VmOperation> current)
    {
        if (current.Count == 0 || CompatibleGroups.Any(g => g.Contains(op) && current.All(g.Contains)))
        {
            return true;
        }

        return op switch
        {
            HardShutdown => !current.Contains(HardShutdown),
            HardReboot => !current.Any(o => o is HardShutdown or HardReboot),
            _ => current.Count == 1 && (current.First(), op) is (SnapshotWithQuiesce, Snapshot)
                or (MigrateSend, MetadataExport or CleanShutdown or CleanReboot),
        };
    }

    private static readonly ImmutableHashSet<VmOperation> TemplateOps =
    [
        ChangingDynamicRange, ChangingStaticRange, ChangingMemoryLimits, ChangingShadowMemory, ChangingVcpus,
        ChangingNvram, Clone, Copy, Export, MetadataExport, Provision,
    ];

    private static readonly ImmutableHashSet<VmOperation> SnapshotOps =
        [Revert, Clone, Copy, Export, Destroy, HardShutdown, MetadataExport];

    private static readonly ImmutableHashSet<VmOperation> ControlDomainOps =
    [
        DataSourceOp, ChangingMemoryLive, AwaitingMemoryLive, MetadataExport, ChangingDynamicRange,
        ChangingMemoryLimits, ChangingStaticRange, Start, StartOn, ChangingVcpus, Destroy,
    ];

    /// <summary>
    /// §1.4 (<c>check_operation_error</c>): the first reason <paramref name="op"/> is refused, or null
    /// when it is allowed. Checks, in xapi's order, those our data supports:
    /// <list type="number">
    /// <item>OPERATION_BLOCKED [vm; value in blocked_operations]</item>
    /// <item>VM_BAD_POWER_STATE [vm; allowed states joined by ", "; actual] (lowercase names)</item>
    /// <item>OTHER_OPERATION_IN_PROGRESS ["VM"; vm; op or "{op1,op2}"; task or "{t1,t2}"] when §1.3 says no
    ///   (entries ordered by op wire name, then task id)</item>
    /// <item>VM_IS_TEMPLATE [vm; op] for a template (not a snapshot) outside its list; destroy and
    ///   migrate_send only for non-default templates (is_default_template, or other_config
    ///   default_template = "true"/"1")</item>
    /// <item>VM_IS_SNAPSHOT [vm; op]</item>
    /// <item>PROVISION_ONLY_ALLOWED_ON_TEMPLATE [] / REVERT_ONLY_ALLOWED_ON_SNAPSHOT []</item>
    /// <item>VM_IS_IMMOBILE [vm] (strict only): suspend, checkpoint, pool_migrate, migrate_send with
    ///   platform nomigrate or nested-virt. xapi reads VM_metrics captured at start and falls back to
    ///   platform when there are none; we have no VM_metrics, so platform is always used.</item>
    /// <item>VM_IS_USING_NESTED_VIRT [vm] (strict only): changing_dynamic_range with platform nested-virt</item>
    /// <item>OPERATION_NOT_ALLOWED [reason] for dom0 (changing_VCPUs, destroy) and for any control domain
    ///   outside its short list. dom0 = a control domain with domid 0 (we model no host→control-domain link).</item>
    /// <item>VM_LACKS_FEATURE [vm] (<c>check_op_for_feature</c>): a Running HVM guest (PV guests support these implicitly)
    ///   whose guest metrics lack the feature: clean_shutdown needs feature-shutdown or feature-poweroff, clean_reboot
    ///   feature-shutdown or feature-reboot (strict only); changing_VCPUs_live feature-vcpu-hotplug; suspend, checkpoint,
    ///   pool_migrate and migrate_send feature-suspend (strict only). No guest metrics: no feature.</item>
    /// <item>VM_SNAPSHOT_WITH_QUIESCE_NOT_SUPPORTED [vm]: the feature is gone, always refused</item>
    /// <item>(12–16, VDI on_boot=reset, PCI, vGPU, VUSB, appliance/protection policy/snapshot schedule: not modelled)</item>
    /// <item>NOT_SYSTEM_DOMAIN [vm]: query_services without other_config is_system_domain=true</item>
    /// <item>(18 rolling pool upgrade, 19 VTPM count: not modelled)</item>
    /// </list>
    /// </summary>
    /// <param name="vm">The VM state (its id is the "vm ref" in parameters).</param>
    /// <param name="op">The operation asked for.</param>
    /// <param name="strict">True for API calls and allowed_operations; false relaxes rows 7 and 8 as xapi does.</param>
    /// <param name="cloneSuspendedEnabled">Pool-wide "clone suspended VM" switch (§1.2 clone/copy row).</param>
    public static XapiException? CheckOperation(Vm vm, VmOperation op, bool strict = true, bool cloneSuspendedEnabled = false)
    {
        var vmRef = vm.Id.ToString();

        if (vm.BlockedOperations.TryGetValue(op.ToWire(), out var blocked))
        {
            return new(ErrorCodes.OperationBlocked, vmRef, blocked);
        }

        var allowed = AllowedPowerStates(op, vm.IsControlDomain, cloneSuspendedEnabled, vm.IsASnapshot);
        if (!allowed.Contains(vm.PowerState))
        {
            return new(ErrorCodes.VmBadPowerState, vmRef, string.Join(", ", allowed.Select(s => s.ToWire())), vm.PowerState.ToWire());
        }

        if (!IsAllowedConcurrently(op, [.. vm.CurrentOperations.Values]))
        {
            var (ops, tasks) = CurrentOperations.Quote(CurrentOperations.Ordered(vm.CurrentOperations, o => o.ToWire()), alwaysBraced: false);
            return new(ErrorCodes.OtherOperationInProgress, ObjectClass.Vm, vmRef, ops, tasks);
        }

        if (vm.IsATemplate && !vm.IsASnapshot && !TemplateOps.Contains(op)
            && !(op is Destroy or MigrateSend && !IsDefaultTemplate(vm)))
        {
            return new(ErrorCodes.VmIsTemplate, vmRef, op.ToWire());
        }

        if (vm.IsASnapshot && !SnapshotOps.Contains(op))
        {
            return new(ErrorCodes.VmIsSnapshot, vmRef, op.ToWire());
        }

        if (op is Provision && !vm.IsATemplate)
        {
            return new(ErrorCodes.ProvisionOnlyAllowedOnTemplate);
        }

        if (op is Revert && !vm.IsASnapshot)
        {
            return new(ErrorCodes.RevertOnlyAllowedOnSnapshot);
        }

        if (strict && op is Suspend or Checkpoint or PoolMigrate or MigrateSend
            && (IsTrue(vm.Platform, "nomigrate") || IsTrue(vm.Platform, "nested-virt")))
        {
            return new(ErrorCodes.VmIsImmobile, vmRef);
        }

        if (strict && op is ChangingDynamicRange && IsTrue(vm.Platform, "nested-virt"))
        {
            return new(ErrorCodes.VmIsUsingNestedVirt, vmRef);
        }

        if (op is ChangingVcpus or Destroy && vm.IsControlDomain && vm.Domid == 0)
        {
            return new(ErrorCodes.OperationNotAllowed, "This operation is not allowed on dom0");
        }

        if (vm.IsControlDomain && !ControlDomainOps.Contains(op))
        {
            return new(ErrorCodes.OperationNotAllowed, "This operation is not allowed on a control domain");
        }

        if (LacksFeature(vm, op, strict))
        {
            return new(ErrorCodes.VmLacksFeature, vmRef);
        }

        if (op is SnapshotWithQuiesce)
        {
            return new(ErrorCodes.VmSnapshotWithQuiesceNotSupported, vmRef);
        }

        if (op is QueryServices && !BoolOfAssoc(vm.OtherConfig, "is_system_domain"))
        {
            return new(ErrorCodes.NotSystemDomain, vmRef);
        }

        return null;
    }

    /// <summary>§1.4 as an assertion: throws the first refusal of <see cref="CheckOperation"/>.</summary>
    public static void AssertOperationValid(Vm vm, VmOperation op, bool strict = true, bool cloneSuspendedEnabled = false)
    {
        if (CheckOperation(vm, op, strict, cloneSuspendedEnabled) is { } error)
        {
            throw error;
        }
    }

    /// <summary>§1.5 <c>ignored_ops</c>: never listed in allowed_operations.</summary>
    public static readonly ImmutableHashSet<VmOperation> IgnoredOperations =
    [
        CreateTemplate, PowerStateReset, Csvm, GetBootRecord, SendSysrq, SendTrigger, QueryServices, Shutdown,
        CallPlugin, ChangingMemoryLive, AwaitingMemoryLive, ChangingMemoryLimits, ChangingShadowMemoryLive,
        ChangingVcpus, VmOperation.AssertOperationValid, DataSourceOp, UpdateAllowedOperations, Import, Reverting,
    ];

    /// <summary>
    /// §1.5 (<c>update_allowed_operations</c>): every operation outside <see cref="IgnoredOperations"/>
    /// that passes <see cref="CheckOperation"/> with strict=true, sorted by wire name (ordinal). Advisory:
    /// the authoritative check runs again when the operation is asked for. Recompute it after every
    /// change to current_operations or power_state (§11 rule 24).
    /// </summary>
    public static ImmutableArray<VmOperation> AllowedOperations(Vm vm, bool cloneSuspendedEnabled = false) =>
    [
        .. Enum.GetValues<VmOperation>()
            .Where(op => !IgnoredOperations.Contains(op) && CheckOperation(vm, op, strict: true, cloneSuspendedEnabled) is null)
            .OrderBy(op => op.ToWire(), StringComparer.Ordinal),
    ];

    private static bool LacksFeature(Vm vm, VmOperation op, bool strict)
    {
        if (vm.PowerState != Running || vm.DomainType != DomainType.Hvm)
        {
            return false;
        }

        bool Lacks(string feature) => vm.Guest?.Has(feature) != true;
        return op switch
        {
            CleanShutdown => strict && Lacks(GuestMetrics.FeatureShutdown) && Lacks(GuestMetrics.FeaturePoweroff),
            CleanReboot => strict && Lacks(GuestMetrics.FeatureShutdown) && Lacks(GuestMetrics.FeatureReboot),
            ChangingVcpusLive => Lacks(GuestMetrics.FeatureVcpuHotplug),
            Suspend or Checkpoint or PoolMigrate or MigrateSend => strict && Lacks(GuestMetrics.FeatureSuspend),
            _ => false,
        };
    }

    private static bool IsDefaultTemplate(Vm vm) => vm.IsDefaultTemplate || BoolOfAssoc(vm.OtherConfig, "default_template");

    /// <summary>xapi's <c>Vm_platform.is_true</c> for platform keys: "true", "1" or "on", any case.</summary>
    internal static bool IsTrue(IReadOnlyDictionary<string, string> platform, string key) =>
        platform.TryGetValue(key, out var v) && v.ToLowerInvariant() is "true" or "1" or "on";

    /// <summary>xapi's <c>bool_of_assoc</c> for other_config keys: "1" or "true" (any case).</summary>
    private static bool BoolOfAssoc(IReadOnlyDictionary<string, string> map, string key) =>
        map.TryGetValue(key, out var v) && (v == "1" || v.ToLowerInvariant() == "true");
}
