using Marten;
using MediatR;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Storage;

namespace Xapi.Cqrs.Application.Inventory;

/// <summary>GET /api/networks, /api/srs, /api/vdis (and one of each by id).</summary>
public static class ListInventory
{
    public sealed record Networks : IRequest<IReadOnlyList<Network>>;

    public sealed record Srs : IRequest<IReadOnlyList<Sr>>;

    public sealed record Vdis : IRequest<IReadOnlyList<Vdi>>;

    public sealed record OneNetwork(Guid Id) : IRequest<Network>;

    public sealed record OneSr(Guid Id) : IRequest<Sr>;

    public sealed record OneVdi(Guid Id) : IRequest<Vdi>;

    public sealed class Handler(IQuerySession session) :
        IRequestHandler<Networks, IReadOnlyList<Network>>, IRequestHandler<Srs, IReadOnlyList<Sr>>, IRequestHandler<Vdis, IReadOnlyList<Vdi>>,
        IRequestHandler<OneNetwork, Network>, IRequestHandler<OneSr, Sr>, IRequestHandler<OneVdi, Vdi>
    {
        public async Task<IReadOnlyList<Network>> Handle(Networks request, CancellationToken cancellationToken) =>
            await session.Query<Network>().OrderBy(n => n.NameLabel).ToListAsync(cancellationToken);

        public async Task<IReadOnlyList<Sr>> Handle(Srs request, CancellationToken cancellationToken) =>
            await session.Query<Sr>().OrderBy(n => n.NameLabel).ToListAsync(cancellationToken);

        public async Task<IReadOnlyList<Vdi>> Handle(Vdis request, CancellationToken cancellationToken) =>
            await session.Query<Vdi>().OrderBy(n => n.NameLabel).ToListAsync(cancellationToken);

        public Task<Network> Handle(OneNetwork request, CancellationToken cancellationToken) =>
            session.GetAsync<Network>(request.Id, ObjectClass.Network, cancellationToken);

        public Task<Sr> Handle(OneSr request, CancellationToken cancellationToken) =>
            session.GetAsync<Sr>(request.Id, ObjectClass.Sr, cancellationToken);

        public Task<Vdi> Handle(OneVdi request, CancellationToken cancellationToken) =>
            session.GetAsync<Vdi>(request.Id, ObjectClass.Vdi, cancellationToken);
    }
}
