using System.Text.Json.Nodes;
using Marten;
using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Domain.Vifs;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>The VIF class: create on a VM, read, plug and unplug (the VIF record once done, or 202 with the task when <c>?async=true</c>), destroy.</summary>
public static class VifEndpoints
{
    public sealed record VifBody(Guid? NetworkId, string? Device, string? Mac, long? Mtu);

    public static void MapVifs(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/vms/{id:guid}/vifs", async (Guid id, VifBody b, IMediator m, CancellationToken ct) =>
            Answers.Created("vifs", await m.Send(new CreateVif.Command(id, b.NetworkId, b.Device, b.Mac, b.Mtu), ct)))
            .Requires("VIF.create", Role.VmAdmin).Produces<Application.Created>(201);

        var vifs = app.MapGroup("/api/vifs");
        vifs.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetDevice.Vif(id, minVersion), ct)).Requires("VIF.get_record", Role.ReadOnly);
        vifs.MapPost("/{id:guid}/plug", (Guid id, bool? async, HttpRequest http, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            Hotplug(http, new HotplugVif.Command(id, VifOperation.Plug), id, async, m, session, signals, time, ct)).Requires("VIF.plug", Role.VmAdmin).Produces<VifView>().Produces<Answers.TaskAccepted>(202);
        vifs.MapPost("/{id:guid}/unplug", (Guid id, bool? async, HttpRequest http, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            Hotplug(http, new HotplugVif.Command(id, VifOperation.Unplug), id, async, m, session, signals, time, ct)).Requires("VIF.unplug", Role.VmAdmin).Produces<VifView>().Produces<Answers.TaskAccepted>(202);
        vifs.MapDelete("/{id:guid}", async (Guid id, IMediator m, CancellationToken ct) =>
        {
            await m.Send(new DestroyDevice.Vif(id), ct);
            return Results.NoContent();
        }).Requires("VIF.destroy", Role.VmAdmin).Produces(204);
    }

    /// <summary>A call without parameters: a body, if any, must still be JSON (a malformed one is a 400 and nothing is written).</summary>
    private static async Task<IResult> Hotplug(HttpRequest http, HotplugVif.Command command, Guid id, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct)
    {
        await Answers.NoParametersAsync(http, ct);
        return await Answers.OnceDone(command, async, c => m.Send(new GetDevice.Vif(id), c), m, session, signals, time, ct);
    }
}
