using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>GET /api/vms/{id}: the VM record (API.md "Reads"); allowed operations recomputed from the state (§1.5).</summary>
public sealed record VmView(
    Guid Id,
    string NameLabel,
    string PowerState,
    IReadOnlyList<string> AllowedOperations,
    IReadOnlyDictionary<Guid, string> CurrentOperations,
    Guid? ResidentOn,
    Guid? ScheduledToBeResidentOn,
    Guid? Affinity,
    long Domid,
    long MemoryOverhead,
    long VcpusMax,
    long VcpusAtStartup,
    long MemoryStaticMin,
    long MemoryDynamicMin,
    long MemoryDynamicMax,
    long MemoryStaticMax,
    string DomainType,
    double HvmShadowMultiplier,
    string ActionsAfterShutdown,
    string ActionsAfterReboot,
    string ActionsAfterCrash,
    bool IsATemplate,
    bool IsASnapshot,
    bool IsControlDomain,
    IReadOnlyDictionary<string, string> BlockedOperations,
    string HaRestartPriority,
    IReadOnlyDictionary<string, string> OtherConfig,
    IReadOnlyDictionary<string, string> Platform,
    IReadOnlyDictionary<string, string> BiosStrings,
    IReadOnlyList<Guid> Vbds,
    IReadOnlyList<Guid> Vifs,
    long Version)
{
    public static VmView From(Vm vm) => new(
        vm.Id,
        vm.NameLabel,
        vm.PowerState.ToString(),
        [.. VmLifecycle.AllowedOperations(vm).Select(o => o.ToWire()).Order(StringComparer.Ordinal)],
        vm.CurrentOperations.ToDictionary(kv => kv.Key, kv => kv.Value.ToWire()),
        vm.ResidentOn,
        vm.ScheduledToBeResidentOn,
        vm.Affinity,
        vm.Domid,
        vm.MemoryOverhead,
        vm.VcpusMax,
        vm.VcpusAtStartup,
        vm.MemoryStaticMin,
        vm.MemoryDynamicMin,
        vm.MemoryDynamicMax,
        vm.MemoryStaticMax,
        vm.DomainType.ToWire(),
        vm.HvmShadowMultiplier,
        vm.ActionsAfterShutdown,
        vm.ActionsAfterReboot,
        vm.ActionsAfterCrash,
        vm.IsATemplate,
        vm.IsASnapshot,
        vm.IsControlDomain,
        vm.BlockedOperations,
        vm.HaRestartPriority,
        vm.OtherConfig,
        vm.Platform,
        vm.BiosStrings,
        [.. vm.Vbds.OrderBy(kv => kv.Value, StringComparer.Ordinal).Select(kv => kv.Key)],
        [.. vm.Vifs.OrderBy(kv => kv.Value.Length).ThenBy(kv => kv.Value, StringComparer.Ordinal).Select(kv => kv.Key)],
        vm.Version);
}

/// <summary>GET /api/vms/{id}/metrics: VM_metrics (§8.4).</summary>
public sealed record VmMetricsView(long VcpusNumber, long MemoryActual, DateTimeOffset? StartTime, DateTimeOffset InstallTime, string State, DateTimeOffset LastUpdated)
{
    public static VmMetricsView From(Vm vm, DateTimeOffset lastUpdated) => new(
        vm.PowerState is VmPowerState.Running or VmPowerState.Paused ? vm.VcpusNumber : 0,
        vm.PowerState is VmPowerState.Running or VmPowerState.Paused ? vm.MemoryDynamicMax : 0,
        vm.StartTime,
        vm.InstallTime,
        vm.PowerState.ToString().ToLowerInvariant(),
        lastUpdated);
}
