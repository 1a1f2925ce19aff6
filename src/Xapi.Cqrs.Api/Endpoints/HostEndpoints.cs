using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Hosts;

namespace Xapi.Cqrs.Api.Endpoints;

public static class HostEndpoints
{
    public sealed record LiveBody(bool? Live);

    public static void MapHosts(this IEndpointRouteBuilder app)
    {
        var hosts = app.MapGroup("/api/hosts");
        hosts.MapPost("", async (RegisterHost.Command body, IMediator m, CancellationToken ct) =>
            Answers.Created("hosts", await m.Send(body, ct))).Requires("host.create", Role.PoolAdmin).Produces<Application.Created>(201);
        hosts.MapGet("", (IMediator m, CancellationToken ct) => m.Send(new GetHost.List(), ct)).Requires("host.get_all", Role.ReadOnly);
        hosts.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetHost.Query(id, minVersion), ct)).Requires("host.get_record", Role.ReadOnly);
        hosts.MapGet("/{id:guid}/history", async (Guid id, DateTimeOffset? at, long? version, long? after, int? limit, HttpContext http, IMediator m, CancellationToken ct) =>
            at is null && version is null
                ? Answers.Page(http, await m.Send(new HostHistory.Events(id, after, limit), ct))
                : Results.Ok(await m.Send(new HostHistory.Query(id, at, version), ct))).Requires("host.get_history", Role.ReadOnly)
            .Produces<IReadOnlyList<Application.Vms.History.Entry>>()
            .WithDescription("The host's events in commit order, paged (Link rel=next); with `at` or `version`, the host record as it was then (the shape of GET /api/hosts/{id}).");
        hosts.MapPost("/{id:guid}/enable", (Guid id, IMediator m, CancellationToken ct) => m.Send(new ChangeHost.Enable(id), ct))
            .Requires("host.enable", Role.PoolOperator);
        hosts.MapPost("/{id:guid}/disable", (Guid id, IMediator m, CancellationToken ct) => m.Send(new ChangeHost.Disable(id), ct))
            .Requires("host.disable", Role.PoolOperator);
        hosts.MapPost("/{id:guid}/live", (Guid id, LiveBody body, IMediator m, CancellationToken ct) => m.Send(new ChangeHost.SetLive(id, body.Live), ct))
            .Requires("host.set_live", Role.PoolOperator);
    }
}
