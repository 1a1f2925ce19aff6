using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;

namespace Xapi.Cqrs.Application.Hosts;

/// <summary>POST /api/hosts/{id}/enable, /disable and /live: the host's admission and liveness flags.</summary>
public static class ChangeHost
{
    public sealed record Enable(Guid HostId) : IRequest<HostView>;

    public sealed record Disable(Guid HostId) : IRequest<HostView>;

    public sealed record SetLive(Guid HostId, bool? Live) : IRequest<HostView>;

    public sealed class SetLiveValidator : XapiValidator<SetLive>
    {
        public SetLiveValidator() => RuleFor(c => c.Live).NotNull().InvalidValue("live");
    }

    public sealed class Handler(IDocumentSession session) :
        IRequestHandler<Enable, HostView>, IRequestHandler<Disable, HostView>, IRequestHandler<SetLive, HostView>
    {
        public Task<HostView> Handle(Enable request, CancellationToken cancellationToken) =>
            Change(request.HostId, h => h.Enabled ? null : new HostEnabled(), cancellationToken);

        public Task<HostView> Handle(Disable request, CancellationToken cancellationToken) =>
            Change(request.HostId, h => h.Enabled ? new HostDisabled() : null, cancellationToken);

        public Task<HostView> Handle(SetLive request, CancellationToken cancellationToken) =>
            Change(request.HostId, h => h.Live == request.Live ? null : new HostLiveSet(request.Live!.Value), cancellationToken);

        /// <summary>Appends the change unless the host already is that way (a repeated call writes nothing).</summary>
        private async Task<HostView> Change(Guid id, Func<Host, object?> decide, CancellationToken ct)
        {
            var stream = await session.WriteAsync<Host>(id, ObjectClass.Host, ct);
            var state = stream.Aggregate!;
            if (decide(state) is { } change)
            {
                stream.AppendOne(change);
                await session.SaveChangesAsync(ct);
                state = state.Evolve(change);
                state.Version = stream.CurrentVersion ?? state.Version + 1;
            }

            return HostView.From(state);
        }
    }
}
