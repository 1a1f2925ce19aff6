using Xapi.Cqrs.Domain.Hosts;

namespace Xapi.Cqrs.Application.Hosts;

/// <summary>GET /api/hosts/{id}: the host record; memoryFree is xapi's computed free memory (§5.4).</summary>
public sealed record HostView(
    Guid Id,
    string NameLabel,
    string Address,
    bool Enabled,
    bool Live,
    long MemoryTotal,
    long MemoryOverhead,
    long MemoryFree,
    IReadOnlyList<Guid> ResidentVms,
    IReadOnlyList<Guid> ScheduledVms,
    IReadOnlyDictionary<Guid, string> CurrentOperations,
    int CpuCount,
    bool HvmCapable,
    IReadOnlyList<Guid> Networks,
    IReadOnlyList<Guid> Srs,
    string Hypervisor,
    bool IsCoordinator,
    long Version,
    string Agent)
{
    public static HostView From(Host h) => new(
        h.Id,
        h.NameLabel,
        h.Address,
        h.Enabled,
        h.Live,
        h.MemoryTotal,
        h.MemoryOverhead,
        h.FreeMemory(),
        [.. h.Resident.Keys.Order()],
        [.. h.Scheduled.Keys.Order()],
        h.CurrentOperations,
        h.CpuCount,
        h.HvmCapable,
        h.Networks,
        h.Srs,
        h.Hypervisor,
        h.IsCoordinator,
        h.Version,
        h.Agent);
}
