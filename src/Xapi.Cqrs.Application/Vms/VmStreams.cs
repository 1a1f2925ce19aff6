using Marten;
using Marten.Events.Archiving;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// Every stream of one VM's life, found from its own stream (live or archived): the VM, every VBD and VIF it ever had,
/// every task about them, and the hosts it was ever placed on. History, explain and retention read the VM through this.
/// </summary>
public sealed record VmStreams(Guid Vm, bool Archived, IReadOnlyList<Guid> Devices, IReadOnlyList<Guid> Tasks, IReadOnlyList<Guid> Hosts)
{
    /// <summary>The VM, its devices and its tasks: the streams whose every event belongs to this VM's history.</summary>
    public IEnumerable<Guid> Own => Devices.Prepend(Vm).Concat(Tasks);

    /// <summary>The streams of <paramref name="vmId"/>, or HANDLE_INVALID [VM; id] when no VM stream has that id.</summary>
    public static async Task<VmStreams> OfAsync(IQuerySession session, Guid vmId, CancellationToken ct)
    {
        var live = await session.LoadAsync<Vm>(vmId, ct);
        var own = await session.Events.QueryAllRawEvents().Where(e => e.StreamId == vmId && e.MaybeArchived())
            .OrderBy(e => e.Version).ToListAsync(ct);
        if (live is null && (own.Count == 0 || own[0].Data is not VmCreated))
        {
            throw XapiException.HandleInvalid(ObjectClass.Vm, vmId);
        }

        // A destroyed VBD or VIF has left the VM's state, not its stream.
        var devices = own.Select(e => e.Data switch
        {
            VbdAdded a => a.VbdId,
            VifAdded a => a.VifId,
            _ => Guid.Empty,
        }).Where(id => id != Guid.Empty).Distinct().ToList();
        var hosts = own.Select(e => e.Data).OfType<ScheduledToBeResidentOnSet>().Select(s => s.HostId).Distinct().ToList();
        var objects = devices.Append(vmId).ToArray();
        var archived = live is null;
        List<Guid> tasks;
        if (!archived)
        {
            tasks = [.. await session.Query<XapiTask>().Where(t => t.ObjectId.IsOneOf(objects)).Select(t => t.Id).ToListAsync(ct)];
        }
        else
        {
            // An archived VM's tasks have left the read model: found by their creation events.
            var schema = session.DocumentStore.Options.Events.DatabaseSchemaName;
            tasks = [.. await session.QueryAsync<Guid>(
                $"select distinct stream_id from {schema}.mt_events where type = 'task_created' and (data ->> 'objectId')::uuid = any(?)", ct, objects)];
        }

        return new VmStreams(vmId, archived, devices, tasks, hosts);
    }
}
