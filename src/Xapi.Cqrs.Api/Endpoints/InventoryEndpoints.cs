using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Inventory;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>Networks, SRs and VDIs (API.md "Inventory"): created by pool-admins, read by anyone with a token.</summary>
public static class InventoryEndpoints
{
    public static void MapInventory(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api");
        api.MapPost("/networks", async (CreateNetwork.Command body, IMediator m, CancellationToken ct) =>
            Answers.Created("networks", await m.Send(body, ct))).Requires("network.create", Role.PoolAdmin).Produces<Application.Created>(201);
        api.MapGet("/networks", (IMediator m, CancellationToken ct) => m.Send(new ListInventory.Networks(), ct)).Requires("network.get_all", Role.ReadOnly);
        api.MapGet("/networks/{id:guid}", (Guid id, IMediator m, CancellationToken ct) => m.Send(new ListInventory.OneNetwork(id), ct)).Requires("network.get_record", Role.ReadOnly);

        api.MapPost("/srs", async (CreateSr.Command body, IMediator m, CancellationToken ct) =>
            Answers.Created("srs", await m.Send(body, ct))).Requires("SR.create", Role.PoolAdmin).Produces<Application.Created>(201);
        api.MapGet("/srs", (IMediator m, CancellationToken ct) => m.Send(new ListInventory.Srs(), ct)).Requires("SR.get_all", Role.ReadOnly);
        api.MapGet("/srs/{id:guid}", (Guid id, IMediator m, CancellationToken ct) => m.Send(new ListInventory.OneSr(id), ct)).Requires("SR.get_record", Role.ReadOnly);

        api.MapPost("/vdis", async (CreateVdi.Command body, IMediator m, CancellationToken ct) =>
            Answers.Created("vdis", await m.Send(body, ct))).Requires("VDI.create", Role.PoolAdmin).Produces<Application.Created>(201);
        api.MapGet("/vdis", (IMediator m, CancellationToken ct) => m.Send(new ListInventory.Vdis(), ct)).Requires("VDI.get_all", Role.ReadOnly);
        api.MapGet("/vdis/{id:guid}", (Guid id, IMediator m, CancellationToken ct) => m.Send(new ListInventory.OneVdi(id), ct)).Requires("VDI.get_record", Role.ReadOnly);
    }
}
