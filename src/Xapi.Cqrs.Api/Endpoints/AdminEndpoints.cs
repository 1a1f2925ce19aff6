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
        api.MapGet("/admin/counters", (Application.Vms.StartDecider decider) => Results.Ok(decider.Counters))
            .Requires("pool.get_counters", Role.ReadOnly).Produces<IReadOnlyDictionary<string, long>>();
    }
}
