using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;

namespace Xapi.Cqrs.Application.Hosts;

public static class GetHost
{
    public sealed record Query(Guid Id, long? MinVersion = null) : IRequest<HostView>;

    public sealed record List : IRequest<IReadOnlyList<HostView>>;

    public sealed class Handler(IQuerySession session, TimeProvider time) :
        IRequestHandler<Query, HostView>, IRequestHandler<List, IReadOnlyList<HostView>>
    {
        public async Task<HostView> Handle(Query request, CancellationToken cancellationToken) =>
            HostView.From(await ReadModels.LoadAsync<Host>(session, request.Id, ObjectClass.Host, request.MinVersion, h => h.Version, time, cancellationToken));

        public async Task<IReadOnlyList<HostView>> Handle(List request, CancellationToken cancellationToken)
        {
            var hosts = await session.Query<Host>().OrderBy(h => h.NameLabel).ToListAsync(cancellationToken);
            return [.. hosts.Select(HostView.From)];
        }
    }
}
