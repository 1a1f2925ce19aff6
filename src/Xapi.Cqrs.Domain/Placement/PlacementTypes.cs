using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Domain.Placement;

/// <summary>
/// One host as placement reads it (§4.3, §4.4): the host state — memory total and overhead, the
/// resident and scheduled charges, SRs, networks, CPUs, flags, current operations — and the stream
/// version it was read at, so the caller can append VmScheduledOnHost with that expected version.
/// Networks: every network listed in <see cref="Host.Networks"/> is treated as having a PIF on this
/// host; a VIF on any other network fails §4.3 #12 (PIF-less internal networks are not modelled).
/// </summary>
public sealed record HostSnapshot(Host Host, long Version = 0)
{
    public Guid Id => Host.Id;

    public static implicit operator HostSnapshot(Host host) => new(host);
}

/// <summary>
/// What placement needs about the VM being started.
/// </summary>
/// <param name="Vm">The VM as snapshotted at start (§3.1 step 8), with memory_overhead already
/// recomputed (§3.1 step 6) and domain type resolved (step 5).</param>
/// <param name="SrIds">SRs of the VDIs of its non-empty VBDs (plus the suspend VDI's SR when
/// Suspended), in VBD order; the first missing one is reported (§4.3 #11).</param>
/// <param name="NetworkIds">Networks of its VIFs, in VIF order (§4.3 #12); see <see cref="InternalNetworkHosts"/>.</param>
/// <param name="CheckMemory">Whether §4.3 #18 runs (xapi: always on the first pass; off only under the
/// <c>disable_memory_checks</c> fault-injection flag).</param>
/// <param name="CoordinatorBias">Pool.coordinator_bias (§4.4): bias definite/probable away from the coordinator.</param>
public sealed record PlacementRequest(
    Vm Vm,
    IReadOnlyList<Guid> SrIds,
    IReadOnlyList<Guid> NetworkIds,
    bool CheckMemory = true,
    bool CoordinatorBias = true)
{
    /// <summary>
    /// The VM's networks that no host of the pool lists (internal networks, xapi: no PIF anywhere), each with the hosts
    /// where another VM using it is scheduled or resident (§4.3 row 12). Empty: every network is a host's.
    /// </summary>
    public IReadOnlyDictionary<Guid, IReadOnlySet<Guid>> InternalNetworkHosts { get; init; } = new Dictionary<Guid, IReadOnlySet<Guid>>();
}

/// <summary>
/// The outcome of <see cref="HostPlacement.ChooseHost"/>: the host, the category it came from, every
/// candidate with its category values and last failed check, every draw, and the memory the VM needs.
/// </summary>
public sealed record PlacementResult(
    Guid HostId,
    string Category,
    bool MemoryChecked,
    int Seed,
    ImmutableArray<HostCandidate> Candidates,
    ImmutableArray<PlacementDraw> Draws,
    long MemoryRequired)
{
    /// <summary>The HostChosen event for the VM stream.</summary>
    public HostChosen ToEvent(Guid taskId, VmOperation operation) =>
        new(taskId, HostId, operation.ToWire(), Seed, Category, Candidates, Draws, MemoryRequired);
}

/// <summary>
/// The outcome of <see cref="HostPlacement.Select"/>: the host and the category it came from (both null when no host
/// validated), whether the memory check was on when it was found, every draw, and each refused host's last failed check.
/// </summary>
public sealed record PlacementSelection(
    Guid? HostId,
    string? Category,
    bool MemoryChecked,
    ImmutableArray<PlacementDraw> Draws,
    ImmutableDictionary<Guid, XapiException> Failures);

/// <summary>The placement categories of §4.4, in the order they are tried.</summary>
public static class PlacementCategories
{
    public const string Affinity = "affinity";
    public const string Definite = "definite";
    public const string Probable = "probable";
    public const string Possible = "possible";

    /// <summary>The first category (affinity, definite, probable, possible) the candidate is inside of (value ≥ 0), with its value; nulls if none.</summary>
    public static (string? Category, long? Value) Of(HostCandidate candidate) =>
        new (string Name, long? Value)[]
            {
                (Affinity, candidate.Affinity), (Definite, candidate.Definite), (Probable, candidate.Probable), (Possible, candidate.Possible),
            }
            .Where(x => x.Value >= 0).Select(x => ((string?)x.Name, x.Value)).FirstOrDefault();
}
