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
/// </summary>
public static class HypervisorEndpoints
{
    public sealed record FaultBody(string? Step, string? Error, int? DelayMs, int? Count);

    [JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
    public sealed record GuestShutdownBody(string? Reason);

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

    private static async Task<IHypervisor> Hypervisor(Guid id, IQuerySession session, LocalAgents agents, CancellationToken ct)
    {
        var host = await session.GetAsync<Host>(id, ObjectClass.Host, ct);
        return agents.HypervisorFor(host) ?? throw new XapiException(ErrorCodes.HostOffline, id.ToString());
    }

    private static IFaultInjectable Injectable(IHypervisor hv, Guid id) =>
        hv as IFaultInjectable ?? throw new XapiException(ErrorCodes.OperationNotAllowed, $"host {id} is not simulated: faults cannot be injected");
}
