using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Streams;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>What a request to create a VBD carries (POST /api/vms/{id}/vbds), as CreateVbd and AttachVbd share it.</summary>
public interface IVbdRequest
{
    Guid VmId { get; }
    Guid? VdiId { get; }
    string? Userdevice { get; }
    string? Mode { get; }
    string? Type { get; }
    bool? Bootable { get; }
    bool? Empty { get; }
    bool? Unpluggable { get; }
}

/// <summary>
/// POST /api/vms/{id}/vbds (xapi_vbd.ml:create, §2.1): the VBD stream starts and the VM stream records it
/// (<see cref="VbdCreate"/>), in one transaction with the VM's expected version, so two VBDs can never take the same
/// position. With <c>plug: true</c> it is <see cref="AttachVbd"/>.
/// </summary>
public static class CreateVbd
{
    public sealed record Command(Guid VmId, Guid? VdiId, string? Userdevice, string? Mode, string? Type, bool? Bootable, bool? Empty, bool? Unpluggable)
        : IRequest<Created>, IVbdRequest;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => Shape(this);
    }

    /// <summary>The shape rules of a VBD request (400s); the state rules are <see cref="VbdRules.CheckCreate"/>'s (409s).</summary>
    internal static void Shape<T>(AbstractValidator<T> v)
        where T : IVbdRequest
    {
        v.RuleFor(c => c.VmId).NotEmpty().InvalidValue("VM");
        v.RuleFor(c => c.Userdevice).NotEmpty().Xapi(ErrorCodes.InvalidDevice, (_, d) => [d ?? ""])
            .Must(d => d == DeviceNames.Autodetect || DeviceNames.Position(d!) is not null).Xapi(ErrorCodes.InvalidDevice, (_, d) => [XapiRules.Show(d)]);
        v.RuleFor(c => c.Mode).Must(m => m is "RO" or "RW")
            .Xapi(ErrorCodes.ValueNotSupported, (_, m) => ["mode", m ?? "", "one of RO, RW"]);
        v.RuleFor(c => c.Type).Must(t => t is "Disk" or "CD" or "Floppy")
            .Xapi(ErrorCodes.ValueNotSupported, (_, t) => ["type", t ?? "", "one of Disk, CD, Floppy"]);
        v.RuleFor(c => c.Mode).Equal("RO").Xapi(ErrorCodes.VbdCdsMustBeReadonly, (_, _) => []).When(c => c.Type == "CD");
        v.RuleFor(c => c.Empty).NotEqual(true).Xapi(ErrorCodes.VbdNotRemovableMedia, (_, _) => [VbdRules.InConstructor]).When(c => c.Type != "CD");
        v.RuleFor(c => c.VdiId).NotNull().InvalidValue("VDI").When(c => c.Empty != true);
        v.RuleFor(c => c.VdiId).Null().InvalidValue("VDI").When(c => c.Empty == true);
    }

    /// <summary>The request as the domain takes it (after validation).</summary>
    internal static VbdRequest ToRequest(IVbdRequest c) =>
        new(c.Empty == true ? null : c.VdiId, c.Userdevice!, Enum.Parse<VbdMode>(c.Mode!), Enum.Parse<VbdType>(c.Type!),
            c.Bootable ?? false, c.Empty ?? false, c.Unpluggable ?? true);

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command c, CancellationToken ct)
        {
            var versions = await session.LockAsync(ct, (StreamKind.Vm, [c.VmId]));
            var vm = await session.LoadAsync<Vm>(c.VmId, ct) ?? throw XapiException.HandleInvalid(ObjectClass.Vm, c.VmId);
            var request = ToRequest(c);
            var vdi = request.VdiId is { } id ? await session.LoadAsync<Vdi>(id, ct) ?? throw XapiException.HandleInvalid(ObjectClass.Vdi, id) : null;
            var vbdId = Guid.NewGuid();
            var changes = VbdCreate.Decide(vm, vdi, request, vbdId);
            await session.AppendAsync(changes, stream => versions.TryGetValue(stream, out var v) ? v : null, ct);
            await session.SaveChangesAsync(ct);
            return new Created(vbdId, changes.For(vbdId).Count);
        }
    }
}
