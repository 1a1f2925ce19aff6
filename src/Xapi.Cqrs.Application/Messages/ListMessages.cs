using Marten;
using MediatR;
using Xapi.Cqrs.Projections.Messages;

namespace Xapi.Cqrs.Application.Messages;

/// <summary>GET /api/messages?obj={uuid}: messages about one object (or all), oldest first.</summary>
public static class ListMessages
{
    public sealed record Query(Guid? Obj) : IRequest<IReadOnlyList<MessageView>>;

    public sealed class Handler(IQuerySession session) : IRequestHandler<Query, IReadOnlyList<MessageView>>
    {
        public async Task<IReadOnlyList<MessageView>> Handle(Query request, CancellationToken cancellationToken)
        {
            IQueryable<MessageView> query = session.Query<MessageView>();
            if (request.Obj is { } obj)
            {
                query = query.Where(m => m.ObjUuid == obj);
            }

            return await query.OrderBy(m => m.Timestamp).ToListAsync(cancellationToken);
        }
    }
}
