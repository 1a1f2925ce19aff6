using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Networks;
using Xapi.Cqrs.Domain.Vifs;
using Xapi.Cqrs.Domain.Vms;

namespace Xapi.Cqrs.Application.Devices;

/// <summary>
/// POST /api/vms/{id}/vifs (xapi_vif_helpers.ml:create, §2.2): device a decimal string unique on the VM
/// (held by the VM stream's expected version), MAC valid or derived from the VM's mac_seed.
/// </summary>
public static class CreateVif
{
    public sealed record Command(Guid VmId, Guid? NetworkId, string? Device, string? Mac, long? Mtu) : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.NetworkId).NotNull().InvalidValue("network");
            RuleFor(c => c.Device).NotEmpty().Xapi(ErrorCodes.InvalidDevice, (_, d) => [d ?? ""])
                .Matches("^[0-9]{1,4}$").Xapi(ErrorCodes.InvalidDevice, (_, d) => [XapiRules.Show(d)]);
            RuleFor(c => c.Mac!).Must(Macs.IsValid).Xapi(ErrorCodes.MacInvalid, (_, m) => [XapiRules.Show(m)]).When(c => !string.IsNullOrEmpty(c.Mac));
            RuleFor(c => c.Mtu).InclusiveBetween(68, 65535).InvalidValue("MTU").When(c => c.Mtu is not null);
        }
    }

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command c, CancellationToken cancellationToken)
        {
            var vm = await session.WriteAsync<Vm>(c.VmId, ObjectClass.Vm, cancellationToken);
            await session.GetAsync<Network>(c.NetworkId!.Value, ObjectClass.Network, cancellationToken);
            var (mac, generated) = VifRules.CheckCreate(vm.Aggregate!, c.Device!, c.Mac ?? "");
            var id = Guid.NewGuid();
            vm.AppendOne(new VifAdded(id, c.Device!, c.NetworkId.Value));
            session.Events.StartStream<Vif>(id, new VifCreated(id, c.VmId, c.NetworkId.Value, c.Device!, Macs.Normalise(mac), generated, c.Mtu ?? 1500));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }
    }
}
