using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Vms;

namespace Xapi.Cqrs.Api.Endpoints;

public static class VmEndpoints
{
    public sealed record VbdBody(Guid? VdiId, string? Userdevice, string? Mode, string? Type, bool? Bootable, bool? Empty, bool? Unpluggable);

    public sealed record VifBody(Guid? NetworkId, string? Device, string? Mac, long? Mtu);

    public static void MapVms(this IEndpointRouteBuilder app)
    {
        var vms = app.MapGroup("/api/vms");
        vms.MapPost("", async (CreateVm.Command body, IMediator m, CancellationToken ct) =>
            Answers.Created("vms", await m.Send(body, ct))).Requires("VM.create", Role.VmAdmin);
        vms.MapGet("", (string? powerState, Guid? residentOn, IMediator m, CancellationToken ct) =>
            m.Send(new GetVm.List(powerState, residentOn), ct)).Requires("VM.get_all", Role.ReadOnly);
        vms.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetVm.Query(id, minVersion), ct)).Requires("VM.get_record", Role.ReadOnly);
        vms.MapGet("/{id:guid}/metrics", (Guid id, IMediator m, CancellationToken ct) =>
            m.Send(new GetVm.Metrics(id), ct)).Requires("VM_metrics.get_record", Role.ReadOnly);

        vms.MapPost("/{id:guid}/vbds", async (Guid id, VbdBody b, IMediator m, CancellationToken ct) =>
            Answers.Created("vbds", await m.Send(new CreateVbd.Command(id, b.VdiId, b.Userdevice, b.Mode, b.Type, b.Bootable, b.Empty, b.Unpluggable), ct)))
            .Requires("VBD.create", Role.VmAdmin);
        vms.MapPost("/{id:guid}/vifs", async (Guid id, VifBody b, IMediator m, CancellationToken ct) =>
            Answers.Created("vifs", await m.Send(new CreateVif.Command(id, b.NetworkId, b.Device, b.Mac, b.Mtu), ct)))
            .Requires("VIF.create", Role.VmAdmin);

        var api = app.MapGroup("/api");
        api.MapGet("/vbds/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetDevice.Vbd(id, minVersion), ct)).Requires("VBD.get_record", Role.ReadOnly);
        api.MapGet("/vifs/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetDevice.Vif(id, minVersion), ct)).Requires("VIF.get_record", Role.ReadOnly);
    }
}
