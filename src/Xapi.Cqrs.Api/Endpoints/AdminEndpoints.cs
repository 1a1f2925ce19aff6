using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;

namespace Xapi.Cqrs.Api.Endpoints;

public static class AdminEndpoints
{
    public static void MapAdmin(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/admin/tokens", async (CreateToken.Command body, IMediator m, CancellationToken ct) =>
            Results.Created((string?)null, await m.Send(body, ct))).Requires("token.create", Role.PoolAdmin).Produces<CreateToken.Result>(201);
        api.MapGet("/admin/operations", (IMediator m, CancellationToken ct) => m.Send(new ListOperations.Query(), ct))
            .Requires("pool.get_operations", Role.ReadOnly);
        api.MapGet("/admin/projections", (IMediator m, CancellationToken ct) => m.Send(new AdminProjections.List(), ct))
            .Requires("pool.get_projections", Role.ReadOnly);
        api.MapPost("/admin/projections/{name}/rebuild", async (string name, HttpRequest request, IMediator m, CancellationToken ct) =>
        {
            await Answers.NoParametersAsync(request, ct);
            var taskId = await m.Send(new AdminProjections.Rebuild(name), ct);
            return Results.Accepted($"/api/tasks/{taskId}", new Answers.TaskAccepted(taskId));
        }).Requires("pool.rebuild_projection", Role.PoolAdmin).Produces<Answers.TaskAccepted>(202);
        api.MapGet("/admin/daemon", (Application.Store.DaemonNode daemon) => Results.Ok(daemon.Status()))
            .Requires("pool.get_daemon", Role.ReadOnly).Produces<Application.Store.DaemonStatus>();
        api.MapGet("/admin/counters", (Application.Vms.StartDecider decider) => Results.Ok(decider.Counters))
            .Requires("pool.get_counters", Role.ReadOnly).Produces<IReadOnlyDictionary<string, long>>();
    }
}
