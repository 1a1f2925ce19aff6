using System.Collections.Immutable;

namespace Xapi.Cqrs.Domain.Hosts;

public sealed record HostRegistered(
    Guid HostId,
    string NameLabel,
    string Address,
    long MemoryTotal,
    long MemoryOverhead,
    int CpuCount,
    bool HvmCapable,
    ImmutableArray<Guid> Networks,
    ImmutableArray<Guid> Srs,
    string Hypervisor,
    bool IsCoordinator,
    string Agent = HostAgents.InProcess);

/// <summary>Who runs a host's agent: the service itself (in-process) or a process of its own on the host (external).</summary>
public static class HostAgents
{
    public const string InProcess = "in-process";
    public const string External = "external";
    public static readonly string[] All = [InProcess, External];
}

public sealed record HostEnabled;

public sealed record HostDisabled;

public sealed record HostLiveSet(bool Live);

/// <summary>What one VM charges against a host's memory (§5.4 counts dynamic_min + overhead).</summary>
public sealed record MemoryCharge(long DynamicMin, long DynamicMax, long StaticMax, long Overhead)
{
    public long Used => DynamicMin + Overhead;
}

/// <summary>
/// The host side of scheduled_to_be_resident_on: appended with the expected version that placement
/// read, in the same transaction as the VM's ScheduledToBeResidentOnSet. A concurrent placement on the
/// same host conflicts on this stream and is re-planned, so memory is never promised twice.
/// <see cref="InternalNetworks"/>: the VM's networks that no host lists (internal, xapi: no PIF anywhere), which pin
/// the other VMs on them to this host while it is scheduled or resident here (XAPI.md §4.3 row 12).
/// </summary>
public sealed record VmScheduledOnHost(Guid VmId, Guid TaskId, MemoryCharge Charge, ImmutableArray<Guid>? InternalNetworks = null);

/// <summary>The reservation was released without the VM becoming resident (failure, cancellation).</summary>
public sealed record VmUnscheduledFromHost(Guid VmId, Guid TaskId);

/// <summary>The VM became resident: its reservation turns into residency (same transaction as ResidentOnSet).</summary>
public sealed record VmResidentOnHost(Guid VmId, Guid TaskId, MemoryCharge Charge);

/// <summary>The VM no longer runs here (halted, migrated away).</summary>
public sealed record VmLeftHost(Guid VmId);
