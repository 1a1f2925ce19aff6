using System.Text.Json.Serialization;
using Marten;
using Xapi.Cqrs.Api.Http;
using Xapi.Cqrs.Application.Admin;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.HostAgent.Agents;
using Xapi.Cqrs.HostAgent.Hypervisor;
using Xapi.Cqrs.HostAgent.Hypervisor.Qemu;
using Xapi.Cqrs.HostAgent.Hypervisor.Simulated;
using Host = Xapi.Cqrs.Domain.Hosts.Host;

namespace Xapi.Cqrs.Api.Endpoints;

/// <summary>
/// What a host's hypervisor reports (domains, xenstore), and for simulated hosts fault injection and guests that stop
/// by themselves (<c>POST …/domains/{domid}/guest-shutdown</c> <c>{reason: "poweroff"|"reboot"|"crash"}</c>: 200 with the
/// domain; 400 VALUE_NOT_SUPPORTED for another reason; 404 HANDLE_INVALID [domain; domid] for an unknown domid).
/// On qemu hosts, <c>GET …/consoles/{vm}?tail=bytes</c> reads a VM's serial console (see <see cref="ReadConsoleAsync"/>).
/// </summary>
public static class HypervisorEndpoints
{
    public sealed record FaultBody(string? Step, string? Error, int? DelayMs, int? Count);

    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    public sealed record GuestShutdownBody(string? Reason);

    /// <summary>How much of a console log one read returns when <c>tail</c> is not given, and at most.</summary>
    public const int DefaultConsoleTail = 64 * 1024;

    public const int MaxConsoleTail = 1024 * 1024;

    public static void MapHypervisor(this IEndpointRouteBuilder app)
    {
        var hv = app.MapGroup("/api/hosts/{id:guid}/hypervisor");
        hv.MapGet("/domains", async (Guid id, IQuerySession s, LocalAgents agents, CancellationToken ct) =>
            (await Hypervisor(id, s, agents, ct)).ListDomains().Select(View)).Requires("host.get_domains", Role.ReadOnly);
        hv.MapPost("/domains/{domid:int}/guest-shutdown", async (Guid id, int domid, GuestShutdownBody body, IQuerySession s, LocalAgents agents, CancellationToken ct) =>
        {
            if (!ShutdownReasons.TryParse(body.Reason, out var reason))
            {
                throw RequestValidationException.Single("reason", ErrorCodes.ValueNotSupported, "reason", body.Reason ?? "", "one of " + string.Join(", ", Enum.GetValues<ShutdownReason>().Select(r => r.ToWire())));
            }

            var simulated = await Hypervisor(id, s, agents, ct) as SimulatedXenHost
                ?? throw new XapiException(ErrorCodes.OperationNotAllowed, $"host {id} is not simulated: its guests cannot be made to stop");
            try
            {
                return Results.Ok(View(simulated.GuestShutdown(domid, reason)));
            }
            catch (HypervisorException e)
            {
                throw e.ToXapiException();
            }
        }).Requires("host.guest_shutdown", Role.PoolAdmin).Produces<DomainView>();
        hv.MapGet("/xenstore", async (Guid id, string? path, IQuerySession s, LocalAgents agents, CancellationToken ct) =>
        {
            var at = string.IsNullOrEmpty(path) ? "/" : path;
            var hypervisor = await Hypervisor(id, s, agents, ct);
            if (hypervisor.Kind == QemuHost.KindName)
            {
                throw new XapiException(ErrorCodes.NotImplemented, "xenstore", $"host {id} runs qemu, which has no xenstore");
            }

            return hypervisor.ReadXenstore(at) ?? throw new XapiException(ErrorCodes.HandleInvalid, "xenstore", at);
        }).Requires("host.get_xenstore", Role.ReadOnly);
        hv.MapGet("/consoles/{vm:guid}", async (Guid id, Guid vm, int? tail, IQuerySession s, LocalAgents agents, CancellationToken ct) =>
        {
            var bytes = tail ?? DefaultConsoleTail;
            if (bytes is < 1 or > MaxConsoleTail)
            {
                throw RequestValidationException.Single("tail", ErrorCodes.InvalidValue, "tail", bytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            var qemu = await Hypervisor(id, s, agents, ct) as QemuHost
                ?? throw new XapiException(ErrorCodes.NotImplemented, "console", $"host {id} is simulated: its guests write no serial console");
            return Results.Text(await ReadConsoleAsync(qemu.ConsoleLogPath(vm), vm, bytes, ct), "text/plain; charset=utf-8");
        }).Requires("host.get_console", Role.VmOperator).Produces<string>(StatusCodes.Status200OK, "text/plain");
        hv.MapPost("/faults", async (Guid id, FaultBody body, IQuerySession s, LocalAgents agents, CancellationToken ct) =>
        {
            if (!HypervisorSteps.TryParse(body.Step, out var step))
            {
                throw RequestValidationException.Single("step", ErrorCodes.ValueNotSupported, "step", body.Step ?? "", "one of " + string.Join(", ", Enum.GetValues<HypervisorStep>().Select(s => s.ToWire())));
            }

            var fault = new HypervisorFault(step, body.Error, body.DelayMs, body.Count ?? 1);
            if (!fault.IsValid(out var problem))
            {
                throw RequestValidationException.Single("fault", ErrorCodes.InvalidValue, "fault", problem ?? "");
            }

            Injectable(await Hypervisor(id, s, agents, ct), id).AddFault(fault);
            return Results.Ok(Injectable(await Hypervisor(id, s, agents, ct), id).Faults);
        }).Requires("host.inject_fault", Role.PoolAdmin).Produces<IReadOnlyList<HypervisorFault>>();
        hv.MapDelete("/faults", async (Guid id, IQuerySession s, LocalAgents agents, CancellationToken ct) =>
        {
            Injectable(await Hypervisor(id, s, agents, ct), id).ClearFaults();
            return Results.NoContent();
        }).Requires("host.inject_fault", Role.PoolAdmin).Produces(204);
    }

    /// <summary>A domain as its host's hypervisor reports it (pid, console log and monitor socket on qemu hosts).</summary>
    public sealed record DomainView(int Domid, Guid Vm, string State, string? ShutdownReason, int Vcpus, long MemoryTarget, string? ActionRequest,
        int? VncPort, string? PvDriversVersion, IReadOnlyList<string>? GuestFeatures, int? Pid, string? ConsoleLog, string? MonitorSocket);

    private static DomainView View(DomainInfo d) => new(d.Domid, d.VmId, d.State, d.ShutdownReason?.ToWire(), d.Vcpus, d.MemoryTarget, d.ActionRequest,
        d.VncPort, d.Guest?.PvDriversVersion, d.Guest?.Features, d.Pid, d.ConsoleLog, d.MonitorSocket);

    /// <summary>
    /// The last <paramref name="tail"/> bytes of a VM's serial console log on a qemu host (the log of its latest domain
    /// there, kept after that domain is destroyed; QEMU may be writing it as it is read). A VM that never ran on the host
    /// has none: 404 HANDLE_INVALID [console; vm]. Bytes that are not UTF-8 read as U+FFFD; a tail that begins inside a
    /// character does too.
    /// </summary>
    private static async Task<string> ReadConsoleAsync(string path, Guid vm, int tail, CancellationToken ct)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new XapiException(ErrorCodes.HandleInvalid, "console", vm.ToString());
        }

        await using (file)
        {
            var start = Math.Max(0, file.Length - tail);
            file.Seek(start, SeekOrigin.Begin);
            var buffer = new byte[file.Length - start];
            var read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, ct);
            return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        }
    }

    private static async Task<IHypervisor> Hypervisor(Guid id, IQuerySession session, LocalAgents agents, CancellationToken ct)
    {
        var host = await session.GetAsync<Host>(id, ObjectClass.Host, ct);
        return agents.HypervisorFor(host) ?? throw new XapiException(ErrorCodes.HostOffline, id.ToString());
    }

    private static IFaultInjectable Injectable(IHypervisor hv, Guid id) =>
        hv as IFaultInjectable ?? throw new XapiException(ErrorCodes.OperationNotAllowed, $"host {id} is not simulated: faults cannot be injected");
}
