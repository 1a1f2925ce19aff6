namespace Xapi.Cqrs.Domain.Vms;

/// <summary>xapi's vm_operations enum (datamodel_vm.ml). Wire names via <see cref="VmOperations"/>.</summary>
public enum VmOperation
{
    Snapshot,
    Clone,
    Copy,
    CreateTemplate,
    Revert,
    Checkpoint,
    SnapshotWithQuiesce,
    Provision,
    Start,
    StartOn,
    Pause,
    Unpause,
    CleanShutdown,
    CleanReboot,
    HardShutdown,
    PowerStateReset,
    HardReboot,
    Suspend,
    Csvm,
    Resume,
    ResumeOn,
    PoolMigrate,
    MigrateSend,
    GetBootRecord,
    SendSysrq,
    SendTrigger,
    QueryServices,
    Shutdown,
    CallPlugin,
    ChangingMemoryLive,
    AwaitingMemoryLive,
    ChangingDynamicRange,
    ChangingStaticRange,
    ChangingMemoryLimits,
    ChangingShadowMemory,
    ChangingShadowMemoryLive,
    ChangingVcpus,
    ChangingVcpusLive,
    ChangingNvram,
    AssertOperationValid,
    DataSourceOp,
    UpdateAllowedOperations,
    MakeIntoTemplate,
    Import,
    Export,
    MetadataExport,
    Reverting,
    Destroy,
    CreateVtpm,
    Sysprep,
}

public static class VmOperations
{
    private static readonly Dictionary<VmOperation, string> Wire = new()
    {
        [VmOperation.Snapshot] = "snapshot",
        [VmOperation.Clone] = "clone",
        [VmOperation.Copy] = "copy",
        [VmOperation.CreateTemplate] = "create_template",
        [VmOperation.Revert] = "revert",
        [VmOperation.Checkpoint] = "checkpoint",
        [VmOperation.SnapshotWithQuiesce] = "snapshot_with_quiesce",
        [VmOperation.Provision] = "provision",
        [VmOperation.Start] = "start",
        [VmOperation.StartOn] = "start_on",
        [VmOperation.Pause] = "pause",
        [VmOperation.Unpause] = "unpause",
        [VmOperation.CleanShutdown] = "clean_shutdown",
        [VmOperation.CleanReboot] = "clean_reboot",
        [VmOperation.HardShutdown] = "hard_shutdown",
        [VmOperation.PowerStateReset] = "power_state_reset",
        [VmOperation.HardReboot] = "hard_reboot",
        [VmOperation.Suspend] = "suspend",
        [VmOperation.Csvm] = "csvm",
        [VmOperation.Resume] = "resume",
        [VmOperation.ResumeOn] = "resume_on",
        [VmOperation.PoolMigrate] = "pool_migrate",
        [VmOperation.MigrateSend] = "migrate_send",
        [VmOperation.GetBootRecord] = "get_boot_record",
        [VmOperation.SendSysrq] = "send_sysrq",
        [VmOperation.SendTrigger] = "send_trigger",
        [VmOperation.QueryServices] = "query_services",
        [VmOperation.Shutdown] = "shutdown",
        [VmOperation.CallPlugin] = "call_plugin",
        [VmOperation.ChangingMemoryLive] = "changing_memory_live",
        [VmOperation.AwaitingMemoryLive] = "awaiting_memory_live",
        [VmOperation.ChangingDynamicRange] = "changing_dynamic_range",
        [VmOperation.ChangingStaticRange] = "changing_static_range",
        [VmOperation.ChangingMemoryLimits] = "changing_memory_limits",
        [VmOperation.ChangingShadowMemory] = "changing_shadow_memory",
        [VmOperation.ChangingShadowMemoryLive] = "changing_shadow_memory_live",
        [VmOperation.ChangingVcpus] = "changing_VCPUs",
        [VmOperation.ChangingVcpusLive] = "changing_VCPUs_live",
        [VmOperation.ChangingNvram] = "changing_NVRAM",
        [VmOperation.AssertOperationValid] = "assert_operation_valid",
        [VmOperation.DataSourceOp] = "data_source_op",
        [VmOperation.UpdateAllowedOperations] = "update_allowed_operations",
        [VmOperation.MakeIntoTemplate] = "make_into_template",
        [VmOperation.Import] = "import",
        [VmOperation.Export] = "export",
        [VmOperation.MetadataExport] = "metadata_export",
        [VmOperation.Reverting] = "reverting",
        [VmOperation.Destroy] = "destroy",
        [VmOperation.CreateVtpm] = "create_vtpm",
        [VmOperation.Sysprep] = "sysprep",
    };

    private static readonly Dictionary<string, VmOperation> ByWire =
        Wire.ToDictionary(kv => kv.Value, kv => kv.Key, StringComparer.Ordinal);

    /// <summary>The xapi wire name, e.g. <c>start_on</c>, <c>changing_VCPUs</c>.</summary>
    public static string ToWire(this VmOperation op) => Wire[op];

    public static bool TryParse(string wire, out VmOperation op) => ByWire.TryGetValue(wire, out op);

    public static VmOperation Parse(string wire) =>
        ByWire.TryGetValue(wire, out var op) ? op : throw new ArgumentException($"unknown VM operation '{wire}'", nameof(wire));

    public static IReadOnlyCollection<VmOperation> All => Wire.Keys;
}
