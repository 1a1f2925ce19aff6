using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Storage;
using Xapi.Cqrs.Domain.Vbds;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// POST /api/vms/{id}/vbds (xapi_vbd.ml:create, §2.1): the VBD stream starts and the VM stream records it,
/// in one transaction with the VM's expected version, so two VBDs can never take the same position.
/// </summary>
public static class CreateVbd
{
    public sealed record Command(Guid VmId, Guid? VdiId, string? Userdevice, string? Mode, string? Type, bool? Bootable, bool? Empty, bool? Unpluggable)
        : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Userdevice).NotEmpty().Xapi(ErrorCodes.InvalidDevice, (_, d) => [d ?? ""])
                .Must(d => d == DeviceNames.Autodetect || DeviceNames.Position(d!) is not null).Xapi(ErrorCodes.InvalidDevice, (_, d) => [XapiRules.Show(d)]);
            RuleFor(c => c.Mode).Must(m => m is "RO" or "RW")
                .Xapi(ErrorCodes.ValueNotSupported, (_, m) => ["mode", m ?? "", "one of RO, RW"]);
            RuleFor(c => c.Type).Must(t => t is "Disk" or "CD" or "Floppy")
                .Xapi(ErrorCodes.ValueNotSupported, (_, t) => ["type", t ?? "", "one of Disk, CD, Floppy"]);
            RuleFor(c => c.Mode).Equal("RO").Xapi(ErrorCodes.VbdCdsMustBeReadonly, (_, _) => []).When(c => c.Type == "CD");
            RuleFor(c => c.Empty).NotEqual(true).Xapi(ErrorCodes.VbdNotRemovableMedia, (_, _) => [""]).When(c => c.Type != "CD");
            RuleFor(c => c.VdiId).NotNull().InvalidValue("VDI").When(c => c.Empty != true);
            RuleFor(c => c.VdiId).Null().InvalidValue("VDI").When(c => c.Empty == true);
        }
    }

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command c, CancellationToken cancellationToken)
        {
            var vm = await session.WriteAsync<Vm>(c.VmId, ObjectClass.Vm, cancellationToken);
            var mode = Enum.Parse<VbdMode>(c.Mode!);
            var type = Enum.Parse<VbdType>(c.Type!);
            var vdi = c.VdiId is { } vdiId ? await session.GetAsync<Vdi>(vdiId, ObjectClass.Vdi, cancellationToken) : null;
            var id = Guid.NewGuid();
            var userdevice = VbdRules.CheckCreate(vm.Aggregate!, c.Userdevice!, type, mode, c.Empty ?? false, vdi, id);
            vm.AppendOne(new VbdAdded(id, userdevice, c.VdiId, c.Type!, c.Mode!));
            session.Events.StartStream<Vbd>(id, new VbdCreated(
                id, c.VmId, c.VdiId, userdevice, mode, type, c.Bootable ?? false, c.Empty ?? false, c.Unpluggable ?? true));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }
    }
}
