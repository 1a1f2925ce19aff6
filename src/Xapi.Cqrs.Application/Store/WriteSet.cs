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
/// the locks of every stream it may write (see <see cref="StreamLocks"/>): the VMs first (every writer of a
/// VM's VBDs and VIFs holds the VM's lock, so its devices are stable once it is held), then the devices,
/// VDIs and hosts. Decisions taken one after another in the same transaction see each other through
/// <see cref="Apply"/>; the append uses the versions the states were read at.
/// </summary>
public sealed class WriteSet
{
    private readonly Dictionary<Guid, Vm> vms;
    private readonly Dictionary<Guid, Vbd> vbds;
    private readonly Dictionary<Guid, Vif> vifs;
    private readonly Dictionary<Guid, Vdi> vdis;
    private readonly Dictionary<Guid, long> versions = [];

    private WriteSet(IEnumerable<Vm> vms, IEnumerable<Vbd> vbds, IEnumerable<Vif> vifs, IEnumerable<Vdi> vdis, IEnumerable<Host> hosts)
    {
        this.vms = vms.ToDictionary(v => v.Id);
        this.vbds = vbds.ToDictionary(v => v.Id);
        this.vifs = vifs.ToDictionary(v => v.Id);
        this.vdis = vdis.ToDictionary(v => v.Id);
        Hosts = hosts.ToDictionary(h => h.Id);
        foreach (var (id, version) in this.vms.Select(kv => (kv.Key, kv.Value.Version))
                     .Concat(this.vbds.Select(kv => (kv.Key, kv.Value.Version)))
                     .Concat(this.vifs.Select(kv => (kv.Key, kv.Value.Version)))
                     .Concat(this.vdis.Select(kv => (kv.Key, kv.Value.Version)))
                     .Concat(Hosts.Select(kv => (kv.Key, kv.Value.Version))))
        {
            versions[id] = version;
        }
    }

    /// <summary>The hosts as loaded (and as changed by <see cref="Apply"/>).</summary>
    public Dictionary<Guid, Host> Hosts { get; }

    public bool Contains(Guid vmId) => vms.ContainsKey(vmId);

    /// <summary>
    /// Locks and loads <paramref name="vmIds"/> (unknown ids are left out) with their devices, and
    /// <paramref name="hostIds"/> (null: every host of the pool).
    /// </summary>
    public static async Task<WriteSet> LoadAsync(IDocumentSession session, IReadOnlyCollection<Guid> vmIds, IReadOnlyCollection<Guid>? hostIds, CancellationToken ct)
    {
        await session.LockAsync(ct, (StreamKind.Vm, vmIds));
        var vms = await session.LoadManyAsync<Vm>(ct, vmIds);
        var batch = session.CreateBatchQuery();
        var vbdsQuery = batch.LoadMany<Vbd>().ById(vms.SelectMany(v => v.Vbds.Keys).ToArray());
        var vifsQuery = batch.LoadMany<Vif>().ById(vms.SelectMany(v => v.Vifs.Keys).ToArray());
        var hostIdsQuery = hostIds is null ? batch.Query<Host>().Select(h => h.Id).ToList() : null;
        await batch.Execute(ct);
        var vbds = await vbdsQuery;
        var vifs = await vifsQuery;
        var allHosts = hostIdsQuery is null ? hostIds! : await hostIdsQuery;
        var vdiIds = vbds.Where(v => v is { Empty: false, VdiId: not null }).Select(v => v.VdiId!.Value).Distinct().ToList();
        await session.LockAsync(ct, (StreamKind.Vbd, vbds.Select(v => v.Id)), (StreamKind.Vif, vifs.Select(v => v.Id)),
            (StreamKind.Vdi, vdiIds), (StreamKind.Host, allHosts));
        var second = session.CreateBatchQuery();
        var vdisQuery = second.LoadMany<Vdi>().ById(vdiIds.ToArray());
        var hostsQuery = second.LoadMany<Host>().ById(allHosts.ToArray());
        await second.Execute(ct);
        return new WriteSet(vms, vbds, vifs, await vdisQuery, await hostsQuery);
    }

    /// <summary>One VM's devices as they are now; HANDLE_INVALID for a VM that was not found.</summary>
    public VmDevices DevicesOf(Guid vmId)
    {
        var vm = vms.GetValueOrDefault(vmId) ?? throw XapiException.HandleInvalid(ObjectClass.Vm, vmId);
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
        foreach (var change in changes.Streams)
        {
            switch (change.Kind)
            {
                case StreamKind.Vm when vms.TryGetValue(change.Id, out var vm):
                    vms[change.Id] = change.Events.Aggregate(vm, (s, e) => s.Evolve(e));
                    break;
                case StreamKind.Vbd when vbds.TryGetValue(change.Id, out var vbd):
                    vbds[change.Id] = change.Events.Aggregate(vbd, (s, e) => s.Evolve(e));
                    break;
                case StreamKind.Vif when vifs.TryGetValue(change.Id, out var vif):
                    vifs[change.Id] = change.Events.Aggregate(vif, (s, e) => s.Evolve(e));
                    break;
                case StreamKind.Vdi when vdis.TryGetValue(change.Id, out var vdi):
                    vdis[change.Id] = change.Events.Aggregate(vdi, (s, e) => s.Evolve(e));
                    break;
                case StreamKind.Host when Hosts.TryGetValue(change.Id, out var host):
                    Hosts[change.Id] = change.Events.Aggregate(host, (s, e) => s.Evolve(e));
                    break;
            }
        }
    }

    /// <summary>The version a stream was read at, the expected version of its append (null: not loaded here).</summary>
    public long? VersionOf(Guid id) => versions.TryGetValue(id, out var v) ? v : null;
}
