using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Devices;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>The VIF class: create on a VM, read.</summary>
public static class VifEndpoints
{
    public sealed record VifBody(Guid? NetworkId, string? Device, string? Mac, long? Mtu);

    public static void MapVifs(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/vms/{id:guid}/vifs", async (Guid id, VifBody b, IMediator m, CancellationToken ct) =>
            Answers.Created("vifs", await m.Send(new CreateVif.Command(id, b.NetworkId, b.Device, b.Mac, b.Mtu), ct)))
            .Requires("VIF.create", Role.VmAdmin);

        var vifs = app.MapGroup("/api/vifs");
        vifs.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetDevice.Vif(id, minVersion), ct)).Requires("VIF.get_record", Role.ReadOnly);
    }
}
