using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Devices;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>The VBD class: create on a VM, read.</summary>
public static class VbdEndpoints
{
    public sealed record VbdBody(Guid? VdiId, string? Userdevice, string? Mode, string? Type, bool? Bootable, bool? Empty, bool? Unpluggable);

    public static void MapVbds(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/vms/{id:guid}/vbds", async (Guid id, VbdBody b, IMediator m, CancellationToken ct) =>
            Answers.Created("vbds", await m.Send(new CreateVbd.Command(id, b.VdiId, b.Userdevice, b.Mode, b.Type, b.Bootable, b.Empty, b.Unpluggable), ct)))
            .Requires("VBD.create", Role.VmAdmin);

        var vbds = app.MapGroup("/api/vbds");
        vbds.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetDevice.Vbd(id, minVersion), ct)).Requires("VBD.get_record", Role.ReadOnly);
    }
}
