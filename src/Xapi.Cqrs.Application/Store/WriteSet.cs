using Marten;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Application.Store;

/// <summary>
/// The states one transaction decides on — VMs with their VBDs, VIFs and VDIs, and hosts — loaded under
/// the locks of the streams it writes (see <see cref="StreamLocks"/>): the VMs first (every writer of a
/// VM's VBDs and VIFs holds the VM's lock, so its devices are stable once it is held), then the devices and
/// VDIs, and the hosts last. Decisions taken one after another in the same transaction see each other
/// through <see cref="Apply"/>; each append extends the version its stream had when it was locked.
/// </summary>
public sealed class WriteSet
{
    private readonly Dictionary<Guid, Vm> vms;
    private readonly Dictionary<Guid, Vbd> vbds;
    private readonly Dictionary<Guid, Vif> vifs;
    private readonly Dictionary<Guid, Vdi> vdis;
    private readonly Dictionary<Guid, long> versions = [];
    private readonly HashSet<Guid> locked = [];

    private WriteSet(IEnumerable<Vm> vms, IEnumerable<Vbd> vbds, IEnumerable<Vif> vifs, IEnumerable<Vdi> vdis, IEnumerable<Host> hosts,
        IReadOnlyDictionary<Guid, long>? versions = null, IEnumerable<Guid>? locked = null)
    {
        this.vms = vms.ToDictionary(v => v.Id);
        this.vbds = vbds.ToDictionary(v => v.Id);
        this.vifs = vifs.ToDictionary(v => v.Id);
        this.vdis = vdis.ToDictionary(v => v.Id);
        Hosts = hosts.ToDictionary(h => h.Id);
        foreach (var (id, version) in versions ?? new Dictionary<Guid, long>())
        {
            this.versions[id] = version;
        }

        this.locked.UnionWith(locked ?? []);
    }

    /// <summary>The hosts loaded (and as changed by <see cref="Apply"/>).</summary>
    public Dictionary<Guid, Host> Hosts { get; }

    public bool Contains(Guid vmId) => vms.ContainsKey(vmId);

    /// <summary>
    /// Locks and loads <paramref name="vmIds"/> (unknown ids are left out) with their devices: the VMs (after the
    /// <paramref name="lease"/>, if any), then their VBDs, VIFs and the VDIs their VBDs use; reads
    /// <paramref name="hostIds"/> without locking them. A decision that depends on a host's whole state (placement)
    /// locks and reads it again with <see cref="LockHostsAsync"/>; the others write only entries of their own VM
    /// (its reservation, residency, the task's host operation), which commute with any other writer's, and leave
    /// the host to be locked at append time.
    /// </summary>
    public static async Task<WriteSet> LoadAsync(IDocumentSession session, IReadOnlyCollection<Guid> vmIds, CancellationToken ct,
        string? lease = null, IReadOnlyCollection<Guid>? hostIds = null)
    {
        var versions = await session.LockAsync(lease, ct, (StreamKind.Vm, vmIds));
        var vms = await session.LoadManyAsync<Vm>(ct, vmIds);
        var batch = session.CreateBatchQuery();
        var vbdsQuery = batch.LoadMany<Vbd>().ById(vms.SelectMany(v => v.Vbds.Keys).ToArray());
        var vifsQuery = batch.LoadMany<Vif>().ById(vms.SelectMany(v => v.Vifs.Keys).ToArray());
        await batch.Execute(ct);
        var vbds = await vbdsQuery;
        var vifs = await vifsQuery;
        var vdiIds = vbds.Where(v => v is { Empty: false, VdiId: not null }).Select(v => v.VdiId!.Value).Distinct().ToList();

        // Every stream that may be written is locked, so each append knows the version it extends (Quick append
        // mode needs it to number the events, and it is the safety net). Hosts are only read here: the writer
        // locks them at append time (ChangesWriter), last, so a hot host is held for the commit alone.
        var hosts = hostIds ?? [];
        foreach (var (id, version) in await session.LockAsync(ct, (StreamKind.Vbd, vbds.Select(v => v.Id)), (StreamKind.Vif, vifs.Select(v => v.Id)),
                     (StreamKind.Vdi, vdiIds)))
        {
            versions[id] = version;
        }

        var second = session.CreateBatchQuery();
        var vdisQuery = second.LoadMany<Vdi>().ById(vdiIds.ToArray());
        var hostsQuery = second.LoadMany<Host>().ById(hosts.ToArray());
        if (vdiIds.Count > 0 || hosts.Count > 0)
        {
            await second.Execute(ct);
        }

        return new WriteSet(vms, vbds, vifs, vdiIds.Count > 0 ? await vdisQuery : [], hosts.Count > 0 ? await hostsQuery : [], versions);
    }

    /// <summary>
    /// Locks and loads hosts (after everything else this transaction locks), and returns them; their versions
    /// become the expected versions of their appends.
    /// </summary>
    public async Task<IReadOnlyList<Host>> LockHostsAsync(IDocumentSession session, IEnumerable<Guid> hostIds, CancellationToken ct)
    {
        var ids = hostIds.Where(id => !locked.Contains(id)).Distinct().ToArray();
        if (ids.Length == 0)
        {
            return [];
        }

        var lockedVersions = await session.LockAsync(ct, (StreamKind.Host, ids));
        var hosts = await session.LoadManyAsync<Host>(ct, ids);
        foreach (var host in hosts)
        {
            Hosts[host.Id] = host;
            versions[host.Id] = lockedVersions[host.Id];
            locked.Add(host.Id);
        }

        return hosts;
    }

    /// <summary>A copy to decide on, leaving this one as loaded (to decide again from the start).</summary>
    public WriteSet Fork() => new(vms.Values, vbds.Values, vifs.Values, vdis.Values, Hosts.Values, versions, locked);

    /// <summary>One VM's devices as they are now; HANDLE_INVALID for a VM that was not found or was destroyed.</summary>
    public VmDevices DevicesOf(Guid vmId)
    {
        var vm = vms.GetValueOrDefault(vmId) is { Destroyed: false } found ? found : throw XapiException.HandleInvalid(ObjectClass.Vm, vmId);
        var vbdStates = vm.Vbds.Keys.Select(vbds.GetValueOrDefault).OfType<Vbd>().ToList();
        return VmDevices.Of(vm,
            vbdStates,
            vbdStates.Where(v => v is { Empty: false, VdiId: not null }).Select(v => vdis.GetValueOrDefault(v.VdiId!.Value)).OfType<Vdi>().Distinct(),
            vm.Vifs.Keys.Select(vifs.GetValueOrDefault).OfType<Vif>());
    }

    public Host? HostOf(Guid? hostId) => hostId is { } id ? Hosts.GetValueOrDefault(id) : null;

    /// <summary>Every state after <paramref name="changes"/>, so the next decision of the transaction sees them.</summary>
    public void Apply(Changes changes)
    {
        foreach (var (kind, id) in changes.Streams.Select(c => (c.Kind, c.Id)))
        {
            switch (kind)
            {
                case StreamKind.Vm: Fold(vms, id, changes, (s, e) => s.Evolve(e)); break;
                case StreamKind.Vbd: Fold(vbds, id, changes, (s, e) => s.Evolve(e)); break;
                case StreamKind.Vif: Fold(vifs, id, changes, (s, e) => s.Evolve(e)); break;
                case StreamKind.Vdi: Fold(vdis, id, changes, (s, e) => s.Evolve(e)); break;
                case StreamKind.Host: Fold(Hosts, id, changes, (s, e) => s.Evolve(e)); break;
            }
        }
    }

    private static void Fold<T>(Dictionary<Guid, T> states, Guid id, Changes changes, Func<T, object, T> evolve)
    {
        if (states.TryGetValue(id, out var state))
        {
            states[id] = changes.Fold(id, state, evolve);
        }
    }

    /// <summary>The version a locked stream had when it was locked: the expected version of its append (null: not locked here).</summary>
    public long? VersionOf(Guid id) => versions.TryGetValue(id, out var v) ? v : null;
}
