using System.Text.Json;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// GET /api/vms/{id}/history: every event of the VM, of every VBD and VIF it ever had, and of the tasks about them, in commit
/// order, with who caused it and under which correlation id — read straight from the log.
/// </summary>
public static class History
{
    public sealed record Query(Guid VmId) : IRequest<IReadOnlyList<Entry>>;

    public sealed record Entry(long Seq, Guid Stream, long Version, string Type, DateTimeOffset At, string? Actor, string? CorrelationId, JsonElement Data);

    public sealed class Handler(IQuerySession session) : IRequestHandler<Query, IReadOnlyList<Entry>>
    {
        public async Task<IReadOnlyList<Entry>> Handle(Query q, CancellationToken ct)
        {
            var vm = await session.GetAsync<Vm>(q.VmId, ObjectClass.Vm, ct);

            // Every device the VM ever had, from its own stream: a destroyed VBD or VIF has left the VM's state, not its history.
            var devices = (await session.Events.FetchStreamAsync(vm.Id, token: ct)).Select(e => e.Data switch
            {
                VbdAdded a => a.VbdId,
                VifAdded a => a.VifId,
                _ => Guid.Empty,
            }).Where(id => id != Guid.Empty).Distinct().ToList();
            var objects = devices.Append(vm.Id).ToArray();
            var tasks = await session.Query<XapiTask>().Where(t => t.ObjectId.IsOneOf(objects)).Select(t => t.Id).ToListAsync(ct);
            var streams = objects.Concat(tasks).ToArray();
            var events = await session.Events.QueryAllRawEvents()
                .Where(e => e.StreamId.IsOneOf(streams))
                .OrderBy(e => e.Sequence)
                .ToListAsync(ct);
            return [.. events.Select(e => new Entry(
                e.Sequence,
                e.StreamId,
                e.Version,
                e.EventTypeName,
                e.Timestamp,
                e.Headers?.TryGetValue(ActorSessionFactory.ActorHeader, out var actor) == true ? actor?.ToString() : null,
                e.CorrelationId,
                JsonSerializer.SerializeToElement(e.Data, e.Data.GetType(), JsonSerializerOptions.Web)))];
        }
    }
}
