using System.Text.Json.Nodes;
using Marten;
using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Devices;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain.Vbds;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>
/// The VBD class: create on a VM (and attach: <c>plug: true</c> on a Running VM plugs it before the answer), read,
/// plug and unplug (the VBD record once done, or 202 with the task when <c>?async=true</c>), detach (unplug if
/// attached, then destroy) and destroy.
/// </summary>
public static class VbdEndpoints
{
    /// <summary>202 of a create with plug: true and ?async=true: the plug's task and the new VBD.</summary>
    public sealed record AttachAccepted(Guid TaskId, Guid Id);

    public sealed record VbdBody(Guid? VdiId, string? Userdevice, string? Mode, string? Type, bool? Bootable, bool? Empty, bool? Unpluggable, bool? Plug);

    public static void MapVbds(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/vms/{id:guid}/vbds", async (Guid id, VbdBody b, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
        {
            if (b.Plug != true)
            {
                return Answers.Created("vbds", await m.Send(new CreateVbd.Command(id, b.VdiId, b.Userdevice, b.Mode, b.Type, b.Bootable, b.Empty, b.Unpluggable), ct));
            }

            var created = await m.Send(new AttachVbd.Command(id, b.VdiId, b.Userdevice, b.Mode, b.Type, b.Bootable, b.Empty, b.Unpluggable), ct);
            var location = $"/api/vbds/{created.Id}";
            if (created.PlugTaskId is not { } task)
            {
                return Results.Created(location, new { id = created.Id, version = created.Version });
            }

            if (async == true)
            {
                return Results.Accepted($"/api/tasks/{task}", new AttachAccepted(task, created.Id));
            }

            await AwaitTask.UntilFinishedAsync(session, signals, task, time, ct); // the plug's error if it failed (and the VBD is gone again)
            var vbd = await m.Send(new GetDevice.Vbd(created.Id), ct);
            return Results.Created(location, new { id = created.Id, version = vbd.Version });
        }).Requires("VBD.create", Role.VmAdmin).Produces<Application.Created>(201).Produces<AttachAccepted>(202);

        var vbds = app.MapGroup("/api/vbds");
        vbds.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetDevice.Vbd(id, minVersion), ct)).Requires("VBD.get_record", Role.ReadOnly);
        vbds.MapPost("/{id:guid}/plug", (Guid id, bool? async, HttpRequest http, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            Hotplug(http, new HotplugVbd.Command(id, VbdOperation.Plug), id, async, m, session, signals, time, ct)).Requires("VBD.plug", Role.VmAdmin).Produces<VbdView>().Produces<Answers.TaskAccepted>(202);
        vbds.MapPost("/{id:guid}/unplug", (Guid id, bool? async, HttpRequest http, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            Hotplug(http, new HotplugVbd.Command(id, VbdOperation.Unplug), id, async, m, session, signals, time, ct)).Requires("VBD.unplug", Role.VmAdmin).Produces<VbdView>().Produces<Answers.TaskAccepted>(202);
        vbds.MapPost("/{id:guid}/detach", async (Guid id, bool? async, HttpRequest http, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
        {
            await Answers.NoParametersAsync(http, ct);
            var detached = await m.Send(new DetachVbd.Command(id), ct);
            if (detached.TaskId is { } task)
            {
                if (async == true)
                {
                    return Results.Accepted($"/api/tasks/{task}", new { taskId = task });
                }

                await AwaitTask.UntilFinishedAsync(session, signals, task, time, ct);
            }

            return Results.Ok(await m.Send(new GetVm.Query(detached.VmId), ct));
        }).Requires("VBD.destroy", Role.VmAdmin).Produces<VmView>().Produces<Answers.TaskAccepted>(202);
        vbds.MapDelete("/{id:guid}", async (Guid id, IMediator m, CancellationToken ct) =>
        {
            await m.Send(new DestroyDevice.Vbd(id), ct);
            return Results.NoContent();
        }).Requires("VBD.destroy", Role.VmAdmin).Produces(204);
    }

    /// <summary>A call without parameters: a body, if any, must still be JSON (a malformed one is a 400 and nothing is written).</summary>
    private static async Task<IResult> Hotplug(HttpRequest http, HotplugVbd.Command command, Guid id, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct)
    {
        await Answers.NoParametersAsync(http, ct);
        return await Answers.OnceDone(command, async, c => m.Send(new GetDevice.Vbd(id), c), m, session, signals, time, ct);
    }
}
