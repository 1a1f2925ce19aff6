using System.Text.Json.Nodes;
using Marten;
using MediatR;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Tasks;
using Xapi.Cqrs.Application.Vms;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>
/// The VM class: create and read, and the lifecycle calls (API.md "VM lifecycle"), which answer the VM record
/// once their task ends, or 202 with the task when ?async=true.
/// </summary>
public static class VmEndpoints
{
    public sealed record StartBody(bool? Paused, bool? Force);

    public sealed record StartOnBody(Guid? Host, bool? Paused, bool? Force);

    private static readonly (string Path, VmOperation Operation)[] PowerRoutes =
    [
        ("/pause", VmOperation.Pause),
        ("/unpause", VmOperation.Unpause),
        ("/clean-shutdown", VmOperation.CleanShutdown),
        ("/hard-shutdown", VmOperation.HardShutdown),
        ("/clean-reboot", VmOperation.CleanReboot),
        ("/hard-reboot", VmOperation.HardReboot),
    ];

    public static void MapVms(this IEndpointRouteBuilder app)
    {
        var vms = app.MapGroup("/api/vms");
        vms.MapPost("", async (CreateVm.Command body, IMediator m, CancellationToken ct) =>
            Answers.Created("vms", await m.Send(body, ct))).Requires("VM.create", Role.VmAdmin).Produces<Application.Created>(201);
        vms.MapGet("", (string? powerState, Guid? residentOn, IMediator m, CancellationToken ct) =>
            m.Send(new GetVm.List(powerState, residentOn), ct)).Requires("VM.get_all", Role.ReadOnly);
        vms.MapGet("/{id:guid}", (Guid id, long? minVersion, IMediator m, CancellationToken ct) =>
            m.Send(new GetVm.Query(id, minVersion), ct)).Requires("VM.get_record", Role.ReadOnly);
        vms.MapGet("/{id:guid}/metrics", (Guid id, IMediator m, CancellationToken ct) =>
            m.Send(new GetVm.Metrics(id), ct)).Requires("VM_metrics.get_record", Role.ReadOnly);
        vms.MapGet("/{id:guid}/history", async (Guid id, long? after, int? limit, string? type, DateTimeOffset? from, DateTimeOffset? to, string? format,
                DateTimeOffset? at, long? version, HttpContext http, IMediator m, CancellationToken ct) =>
        {
            if (at is not null || version is not null)
            {
                // As-of: the VM record as it was then, rebuilt from the events.
                return Results.Ok(await m.Send(new VmAsOf.Query(id, at, version), ct));
            }

            var ndjson = format == "ndjson" || http.Request.Headers.Accept.Any(a => a?.Contains("application/x-ndjson", StringComparison.OrdinalIgnoreCase) == true);
            var page = await m.Send(new History.Query(id, after, limit, type, from, to, All: ndjson), ct);
            if (ndjson)
            {
                // For auditors' tools: the whole history, one event a line, no paging.
                http.Response.ContentType = "application/x-ndjson";
                foreach (var entry in page.Entries)
                {
                    await http.Response.WriteAsync(System.Text.Json.JsonSerializer.Serialize(entry, System.Text.Json.JsonSerializerOptions.Web) + "\n", ct);
                }

                return Results.Empty;
            }

            return Answers.Page(http, page);
        }).Requires("VM.get_history", Role.ReadOnly).Produces<IReadOnlyList<History.Entry>>(200, "application/json", "application/x-ndjson")
            .WithDescription("The VM's events in commit order, paged (Link rel=next); with `at` or `version`, the VM record as it was then (the shape of GET /api/vms/{id}).");
        vms.MapGet("/{id:guid}/history/explain", (Guid id, IMediator m, CancellationToken ct) =>
            m.Send(new ExplainHistory.Query(id), ct)).Requires("VM.get_history_explain", Role.ReadOnly)
            .WithDescription("Each start of the VM as a story: who asked, the hosts considered and why each other was refused, the draw, the host-side steps, the outcome, and whether today's placement code reproduces the choice.");

        var vm = app.MapGroup("/api/vms/{id:guid}");
        vm.MapPost("/start", async (Guid id, HttpRequest request, bool? async, bool? dryRun, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            await Answers.OptionalBodyAsync<StartBody>(request, ct) is var body && dryRun == true
                ? Results.Ok(await m.Send(new PreviewStart.Query(id, null, body?.Paused ?? false), ct))
                : await Lifecycle(new StartVm.Command(id, null, body?.Paused ?? false, body?.Force ?? false), id, async, m, session, signals, time, ct))
            .Requires("VM.start", Role.VmOperator).WithMetadata(new DescribedBody(typeof(StartBody))).Lifecycle();
        vm.MapPost("/start-on", async (Guid id, HttpRequest request, bool? async, bool? dryRun, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            await Answers.OptionalBodyAsync<StartOnBody>(request, ct) is not { Host: { } host } body
                ? throw Application.Pipeline.RequestValidationException.Single("host", Domain.ErrorCodes.InvalidValue, "host", "")
                : dryRun == true
                    ? Results.Ok(await m.Send(new PreviewStart.Query(id, host, body.Paused ?? false), ct))
                    : await Lifecycle(new StartVm.Command(id, host, body.Paused ?? false, body.Force ?? false), id, async, m, session, signals, time, ct))
            .Requires("VM.start_on", Role.VmOperator).WithMetadata(new DescribedBody(typeof(StartOnBody), Required: true)).Lifecycle();
        // Calls without parameters: a body, if any, must still be JSON (a malformed one is a 400 and nothing is written).
        vm.MapPost("/destroy", async (Guid id, HttpRequest request, IMediator m, CancellationToken ct) =>
        {
            await Answers.NoParametersAsync(request, ct);
            return Results.Ok(new Destroyed(id, await m.Send(new DestroyVm.Command(id), ct)));
        }).Requires("VM.destroy", Role.VmAdmin).Produces<Destroyed>();
        foreach (var (path, op) in PowerRoutes)
        {
            vm.MapPost(path, async (Guid id, HttpRequest request, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
            {
                await Answers.NoParametersAsync(request, ct);
                return await Lifecycle(new PowerOperationVm.Command(id, op), id, async, m, session, signals, time, ct);
            }).Requires(PowerOperations.TaskName(op), Role.VmOperator).Lifecycle();
        }
    }

    /// <summary>The answer of a destroy: the VM's id and its final stream version.</summary>
    public sealed record Destroyed(Guid Id, long Version);

    /// <summary>A lifecycle call's answers, for the API description: the VM record, or 202 with the task (?async=true).</summary>
    private static RouteHandlerBuilder Lifecycle(this RouteHandlerBuilder route) =>
        route.Produces<VmView>().Produces<Answers.TaskAccepted>(202);

    private static Task<IResult> Lifecycle(IRequest<StartVm.Started> command, Guid vmId, bool? async, IMediator m, IQuerySession session, TaskSignals signals, TimeProvider time, CancellationToken ct) =>
        Answers.OnceDone(command, async, c => m.Send(new GetVm.Query(vmId), c), m, session, signals, time, ct);
}
