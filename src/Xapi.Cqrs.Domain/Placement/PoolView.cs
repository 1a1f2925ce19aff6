using System.Collections.Immutable;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Streams;

namespace Xapi.Cqrs.Domain.Placement;

/// <summary>
/// The hosts of a pool as placement sees them: each host's state with every memory commitment on it.
/// Immutable; <see cref="Apply"/> gives the view after a decision, so the starts of one batch are decided
/// one after the other, each on the view the previous one left.
/// </summary>
public sealed record PoolView(ImmutableSortedDictionary<Guid, Host> Hosts)
{
    public static PoolView Of(IEnumerable<Host> hosts) => new(hosts.ToImmutableSortedDictionary(h => h.Id, h => h));

    /// <summary>Every host in id order, as placement takes them.</summary>
    public IReadOnlyList<HostSnapshot> Snapshots => [.. Hosts.Values.Select(h => new HostSnapshot(h, h.Version))];

    /// <summary>The view after the host events of <paramref name="changes"/>.</summary>
    public PoolView Apply(Changes changes)
    {
        var hosts = Hosts;
        foreach (var change in changes.Streams.Where(s => s.Kind == StreamKind.Host))
        {
            if (hosts.TryGetValue(change.Id, out var host))
            {
                hosts = hosts.SetItem(change.Id, changes.Fold(change.Id, host, (h, e) => h.Evolve(e)));
            }
        }

        return ReferenceEquals(hosts, Hosts) ? this : new PoolView(hosts);
    }
}
