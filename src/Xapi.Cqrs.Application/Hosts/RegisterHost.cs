using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Storage;

namespace Xapi.Cqrs.Application.Hosts;

/// <summary>POST /api/hosts: a host joins the pool, enabled and live (an external host: live once its agent heartbeats). The first host is the coordinator.</summary>
public static class RegisterHost
{
    public static readonly string[] Hypervisors = ["simulated", "qemu"];

    public sealed record Command(
        string? NameLabel,
        string? Address,
        long? MemoryTotal,
        long? MemoryOverhead,
        int? CpuCount,
        bool? HvmCapable,
        Guid[]? Networks,
        Guid[]? Srs,
        string? Hypervisor,
        string? Agent = null) : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.NameLabel).NameLabel();
            RuleFor(c => c.Address).MaximumLength(XapiRules.MaxNameLength).InvalidValue("address");
            RuleFor(c => c.MemoryTotal).Required("memory_total").GreaterThan(0).InvalidValue("memory_total");
            RuleFor(c => c.MemoryOverhead).GreaterThanOrEqualTo(0).InvalidValue("memory_overhead")
                .LessThan(c => c.MemoryTotal).InvalidValue("memory_overhead").When(c => c.MemoryOverhead is not null);
            RuleFor(c => c.CpuCount).NotNull().InvalidValue("cpu_count").InclusiveBetween(1, 4096).InvalidValue("cpu_count");
            RuleFor(c => c.Networks).Must(n => n is null || n.Distinct().Count() == n.Length).InvalidValue("networks");
            RuleFor(c => c.Srs).Must(n => n is null || n.Distinct().Count() == n.Length).InvalidValue("srs");
            RuleFor(c => c.Hypervisor).Must(h => h is null || Hypervisors.Contains(h))
                .Xapi(ErrorCodes.ValueNotSupported, (_, h) => ["hypervisor", h ?? "", "one of " + string.Join(", ", Hypervisors)]);
            RuleFor(c => c.Agent).Must(a => a is null || HostAgents.All.Contains(a)).InvalidValue("agent");
        }
    }

    public sealed class Handler(IDocumentSession session, HostDefaults defaults) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command request, CancellationToken cancellationToken)
        {
            var networks = request.Networks ?? [];
            var srs = request.Srs ?? [];
            foreach (var network in networks)
            {
                await session.GetAsync<Network>(network, ObjectClass.Network, cancellationToken);
            }

            foreach (var sr in srs)
            {
                await session.GetAsync<Sr>(sr, ObjectClass.Sr, cancellationToken);
            }

            var isFirst = !await session.Query<Host>().AnyAsync(cancellationToken);
            var id = Guid.NewGuid();
            session.Events.StartStream<Host>(id, new HostRegistered(
                id,
                request.NameLabel!,
                request.Address ?? "",
                request.MemoryTotal!.Value,
                request.MemoryOverhead ?? 0,
                request.CpuCount!.Value,
                request.HvmCapable ?? true,
                [.. networks],
                [.. srs],
                request.Hypervisor ?? defaults.Hypervisor,
                IsCoordinator: isFirst,
                Agent: request.Agent ?? HostAgents.InProcess));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }
    }
}

/// <summary>Xapi:Hypervisor — the backend of hosts registered without one.</summary>
public sealed record HostDefaults(string Hypervisor);
