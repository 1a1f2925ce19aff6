using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Application.Hosts;

/// <summary>
/// GET /api/hosts/{id}/history?at=&lt;ISO-8601&gt; or ?version=N: the host record as it was then — free memory, resident
/// and scheduled VMs, current operations — rebuilt from its stream (<see cref="AsOf"/>), in the shape of GET /api/hosts/{id}.
/// </summary>
public static class HostHistory
{
    public sealed record Query(Guid HostId, DateTimeOffset? At, long? Version) : IRequest<HostView>;

    /// <summary>Without at or version: the host stream's own events, in order, paged as the VM history is.</summary>
    public sealed record Events(Guid HostId, long? After, int? Limit) : IRequest<Vms.History.Page>;

    public sealed class EventsValidator : XapiValidator<Events>
    {
        public EventsValidator()
        {
            RuleFor(q => q.Limit).InclusiveBetween(1, Vms.History.MaxLimit).InvalidValue("limit");
            RuleFor(q => q.After).GreaterThanOrEqualTo(0).InvalidValue("after");
        }
    }

    public sealed class Validator : XapiValidator<Query>
    {
        public Validator()
        {
            RuleFor(q => q.HostId).NotEmpty().InvalidValue("host");
            RuleFor(q => q.Version).GreaterThanOrEqualTo(1).InvalidValue("version");
        }
    }

    public sealed class Handler(IQuerySession session) : IRequestHandler<Query, HostView>, IRequestHandler<Events, Vms.History.Page>
    {
        public async Task<Vms.History.Page> Handle(Events q, CancellationToken ct)
        {
            _ = await session.GetAsync<Domain.Hosts.Host>(q.HostId, ObjectClass.Host, ct);
            var limit = q.Limit ?? Vms.History.DefaultLimit;
            var after = q.After ?? 0;
            var found = await session.Events.QueryAllRawEvents()
                .Where(e => e.StreamId == q.HostId && e.Sequence > after)
                .OrderBy(e => e.Sequence).Take(limit + 1).ToListAsync(ct);
            var page = found.Take(limit).Select(Vms.History.EntryOf).ToList();
            return new Vms.History.Page(page, found.Count > limit ? page[^1].Seq : null);
        }

        public async Task<HostView> Handle(Query q, CancellationToken ct) =>
            await AsOf.HostAsync(session, q.HostId, q.Version, q.At, ct) is { } host
                ? HostView.From(host)
                : throw XapiException.HandleInvalid(ObjectClass.Host, q.HostId);
    }
}
