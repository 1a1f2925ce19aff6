using System.Text.Json;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Tasks;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>
/// GET /api/vms/{id}/history: every event of the VM, its VBDs and VIFs, and the tasks about it, in commit
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
            var tasks = await session.Query<XapiTask>().Where(t => t.ObjectId == q.VmId).Select(t => t.Id).ToListAsync(ct);
            var streams = new[] { vm.Id }.Concat(vm.Vbds.Keys).Concat(vm.Vifs.Keys).Concat(tasks).ToArray();
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
