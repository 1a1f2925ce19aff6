using Marten;
using MediatR;
using Xapi.Cqrs.Projections.Operations;

namespace Xapi.Cqrs.Application.Admin;

/// <summary>GET /api/admin/operations: every open current_operations entry on any object, with its age and deadline.</summary>
public static class ListOperations
{
    public sealed record Query : IRequest<IReadOnlyList<Entry>>;

    public sealed record Entry(string Class, Guid Id, string Op, Guid TaskId, DateTimeOffset Since, double AgeSeconds, double DeadlineSeconds, DateTimeOffset DeadlineAt);

    public sealed class Handler(IQuerySession session, TimeProvider time, OperationDeadlines deadlines) : IRequestHandler<Query, IReadOnlyList<Entry>>
    {
        public async Task<IReadOnlyList<Entry>> Handle(Query request, CancellationToken cancellationToken)
        {
            var now = time.GetUtcNow();
            var open = await session.Query<OpenOperation>().OrderBy(o => o.Since).ToListAsync(cancellationToken);
            return [.. open.Select(o =>
            {
                var deadline = deadlines.For(o.Operation);
                return new Entry(o.ObjectClass, o.ObjectId, o.Operation, o.TaskId, o.Since, Math.Round((now - o.Since).TotalSeconds, 3), deadline.TotalSeconds, o.Since + deadline);
            })];
        }
    }
}
