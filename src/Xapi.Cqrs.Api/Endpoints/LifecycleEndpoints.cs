using Marten;
using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Application.Vms;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>VM lifecycle calls: answer the VM record once the task ends, or 202 with the task when ?async=true.</summary>
public static class LifecycleEndpoints
{
    public sealed record StartBody(bool? Paused, bool? Force);

    public sealed record StartOnBody(Guid? Host, bool? Paused, bool? Force);

    public static void MapLifecycle(this IEndpointRouteBuilder app)
    {
        var vms = app.MapGroup("/api/vms/{id:guid}");
        vms.MapPost("/start", async (Guid id, StartBody? body, bool? async, bool? dryRun, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            dryRun == true
                ? Results.Ok(await m.Send(new PreviewStart.Query(id, null, body?.Paused ?? false), ct))
                : await Run(new StartVm.Command(id, null, body?.Paused ?? false, body?.Force ?? false), id, async, m, session, signals, time, ct))
            .Requires("VM.start", Role.VmOperator);
        vms.MapPost("/start-on", async (Guid id, StartOnBody? body, bool? async, bool? dryRun, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            body?.Host is not { } host
                ? throw Application.Pipeline.RequestValidationException.Single("host", Domain.ErrorCodes.InvalidValue, "host", "")
                : dryRun == true
                    ? Results.Ok(await m.Send(new PreviewStart.Query(id, host, body.Paused ?? false), ct))
                    : await Run(new StartVm.Command(id, host, body.Paused ?? false, body.Force ?? false), id, async, m, session, signals, time, ct))
            .Requires("VM.start_on", Role.VmOperator);
        vms.MapPost("/unpause", (Guid id, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            Run(new UnpauseVm.Command(id), id, async, m, session, signals, time, ct))
            .Requires("VM.unpause", Role.VmOperator);
        vms.MapPost("/hard-shutdown", (Guid id, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            Run(new HardShutdownVm.Command(id), id, async, m, session, signals, time, ct))
            .Requires("VM.hard_shutdown", Role.VmOperator);
        vms.MapGet("/history", (Guid id, IMediator m, CancellationToken ct) => m.Send(new History.Query(id), ct))
            .Requires("VM.get_history", Role.ReadOnly);
    }

    private static async Task<IResult> Run(MediatR.IRequest<StartVm.Started> command, Guid vmId, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct)
    {
        var started = await m.Send(command, ct);
        if (async == true)
        {
            return Results.Accepted($"/api/tasks/{started.TaskId}", new { taskId = started.TaskId });
        }

        await AwaitTask.UntilFinishedAsync(session, signals, started.TaskId, time, ct);
        return Results.Ok(await m.Send(new GetVm.Query(vmId), ct));
    }
}
