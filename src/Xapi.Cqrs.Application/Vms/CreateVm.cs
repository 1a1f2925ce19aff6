using System.Collections.Immutable;
using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Hosts;
using Xapi.Cqrs.Domain.Memory;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Vms;

/// <summary>POST /api/vms: a new, Halted VM. Memory ordering and vCPU rules are checked here (§4.3, §6.8).</summary>
public static class CreateVm
{
    public static readonly string[] ActionsAfterCrash =
        ["destroy", "coredump_and_destroy", "restart", "coredump_and_restart", "preserve", "rename_restart"];

    public static readonly string[] ActionsAfterShutdownOrReboot = ["destroy", "restart"];

    public const int MaxVcpus = 4096;
    public const int MaxMapEntries = 256;

    public sealed record Command(
        string? NameLabel,
        long? VcpusMax,
        long? VcpusAtStartup,
        long? MemoryStaticMin,
        long? MemoryDynamicMin,
        long? MemoryDynamicMax,
        long? MemoryStaticMax,
        string? DomainType,
        string? HvmBootPolicy,
        double? HvmShadowMultiplier,
        string? ActionsAfterCrash,
        Guid? Affinity,
        bool? IsATemplate,
        Dictionary<string, string>? BlockedOperations,
        string? HaRestartPriority,
        Dictionary<string, string>? OtherConfig,
        Dictionary<string, string>? Platform,
        Dictionary<string, string>? VcpusParams,
        string? PvBootloader,
        string? PvKernel,
        string? ActionsAfterShutdown = null,
        string? ActionsAfterReboot = null) : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.NameLabel).NameLabel();
            RuleFor(c => c.VcpusMax).Required("VCPUs_max")
                .GreaterThanOrEqualTo(1).InvalidValue("VCPUs_max")
                .LessThanOrEqualTo(MaxVcpus).InvalidValue("VCPUs_max");
            RuleFor(c => c.VcpusAtStartup).Required("VCPUs-at-startup")
                .GreaterThanOrEqualTo(1).InvalidValue("VCPUs-at-startup")
                .LessThanOrEqualTo(c => c.VcpusMax).Xapi(ErrorCodes.ValueNotSupported, (_, v) => ["VCPUs-at-startup", XapiRules.Show(v), "value greater than VCPUs-max"])
                .When(c => c.VcpusMax is >= 1);
            RuleFor(c => c.MemoryStaticMin).Required("memory_static_min").GreaterThanOrEqualTo(0).InvalidValue("memory_static_min");
            RuleFor(c => c.MemoryDynamicMin).Required("memory_dynamic_min").GreaterThanOrEqualTo(0).InvalidValue("memory_dynamic_min");
            RuleFor(c => c.MemoryDynamicMax).Required("memory_dynamic_max").GreaterThanOrEqualTo(0).InvalidValue("memory_dynamic_max");
            RuleFor(c => c.MemoryStaticMax).Required("memory_static_max").GreaterThan(0).InvalidValue("memory_static_max");
            RuleFor(c => c)
                .Must(c => c.MemoryStaticMin <= c.MemoryDynamicMin && c.MemoryDynamicMin <= c.MemoryDynamicMax && c.MemoryDynamicMax <= c.MemoryStaticMax)
                .Xapi(ErrorCodes.MemoryConstraintViolationOrder, (_, _) => [])
                .WithName("memory")
                .When(c => c.MemoryStaticMin >= 0 && c.MemoryDynamicMin >= 0 && c.MemoryDynamicMax >= 0 && c.MemoryStaticMax > 0);
            RuleFor(c => c.DomainType).Must(t => t is null || (DomainTypes.TryParse(t, out var d) && d != Domain.Vms.DomainType.Unspecified) || t == "unspecified")
                .Xapi(ErrorCodes.ValueNotSupported, (_, t) => ["domain_type", t ?? "", "one of hvm, pv, pvh, pv_in_pvh"]);
            RuleFor(c => c.HvmShadowMultiplier).GreaterThanOrEqualTo(1.0).InvalidValue("HVM_shadow_multiplier")
                .Must(m => m is null || double.IsFinite(m.Value)).InvalidValue("HVM_shadow_multiplier");
            RuleFor(c => c.ActionsAfterCrash).Must(a => a is null || ActionsAfterCrash.Contains(a))
                .Xapi(ErrorCodes.ValueNotSupported, (_, a) => ["actions_after_crash", a ?? "", "one of " + string.Join(", ", ActionsAfterCrash)]);
            RuleFor(c => c.ActionsAfterShutdown).Must(a => a is null || ActionsAfterShutdownOrReboot.Contains(a))
                .Xapi(ErrorCodes.ValueNotSupported, (_, a) => ["actions_after_shutdown", a ?? "", "one of destroy, restart"]);
            RuleFor(c => c.ActionsAfterReboot).Must(a => a is null || ActionsAfterShutdownOrReboot.Contains(a))
                .Xapi(ErrorCodes.ValueNotSupported, (_, a) => ["actions_after_reboot", a ?? "", "one of destroy, restart"]);
            RuleFor(c => c.BlockedOperations).Must(b => b is null || b.Keys.All(k => VmOperations.TryParse(k, out _)))
                .Xapi(ErrorCodes.ValueNotSupported, (cmd, b) => ["blocked_operations", b!.Keys.First(k => !VmOperations.TryParse(k, out _)), "not a VM operation"]);
            RuleFor(c => c.HaRestartPriority).Must(p => p is null or "" or "restart" or "best-effort")
                .Xapi(ErrorCodes.ValueNotSupported, (_, p) => ["ha_restart_priority", p ?? "", "one of \"\", restart, best-effort"]);
            RuleFor(c => c.HvmBootPolicy).MaximumLength(XapiRules.MaxNameLength).InvalidValue("HVM_boot_policy");
            RuleFor(c => c.PvBootloader).MaximumLength(XapiRules.MaxNameLength).InvalidValue("PV_bootloader");
            RuleFor(c => c.PvKernel).MaximumLength(1024).InvalidValue("PV_kernel");
            RuleForEach(c => new[] { c.OtherConfig, c.Platform, c.VcpusParams, c.BlockedOperations })
                .Must(m => m is null || (m.Count <= MaxMapEntries && m.All(kv => kv.Key.Length is > 0 and <= 255 && kv.Value is not null && kv.Value.Length <= 4096)))
                .InvalidValue("map").OverridePropertyName("maps");
        }
    }

    public sealed class Handler(IDocumentSession session, TimeProvider time) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command c, CancellationToken cancellationToken)
        {
            if (c.Affinity is { } affinity)
            {
                await session.GetAsync<Host>(affinity, ObjectClass.Host, cancellationToken);
            }

            DomainTypes.TryParse(c.DomainType ?? "unspecified", out var domainType);
            var multiplier = c.HvmShadowMultiplier ?? 1.0;
            var id = Guid.NewGuid();
            var bootPolicy = c.HvmBootPolicy ?? (domainType == Domain.Vms.DomainType.Pv ? "" : "BIOS order");
            var otherConfig = Map(c.OtherConfig);
            session.Events.StartStream<Vm>(id, new VmCreated(
                id,
                c.NameLabel!,
                c.VcpusMax!.Value,
                c.VcpusAtStartup!.Value,
                c.MemoryStaticMin!.Value,
                c.MemoryDynamicMin!.Value,
                c.MemoryDynamicMax!.Value,
                c.MemoryStaticMax!.Value,
                domainType,
                bootPolicy,
                multiplier,
                c.ActionsAfterCrash ?? "restart",
                c.Affinity,
                c.IsATemplate ?? false,
                IsDefaultTemplate: false,
                IsASnapshot: false,
                IsControlDomain: false,
                Map(c.BlockedOperations),
                c.HaRestartPriority ?? "",
                otherConfig.SetItem("mac_seed", otherConfig.GetValueOrDefault("mac_seed") ?? Guid.NewGuid().ToString()),
                Map(c.Platform),
                Map(c.VcpusParams),
                c.PvBootloader ?? "",
                c.PvKernel ?? "",
                MemoryModel.OverheadBytes(c.MemoryStaticMax.Value, c.VcpusMax.Value, multiplier, domainType.Resolve(bootPolicy)),
                time.GetUtcNow(),
                c.ActionsAfterShutdown ?? "destroy",
                c.ActionsAfterReboot ?? "restart"));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }

        private static ImmutableDictionary<string, string> Map(Dictionary<string, string>? map) =>
            map?.ToImmutableDictionary(StringComparer.Ordinal) ?? ImmutableDictionary<string, string>.Empty;
    }
}
