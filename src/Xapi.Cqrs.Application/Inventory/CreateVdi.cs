using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Application.Store;
using Xapi.Cqrs.Domain;
using Xapi.Cqrs.Domain.Storage;

namespace Xapi.Cqrs.Application.Inventory;

public static class CreateVdi
{
    public sealed record Command(Guid? SrId, string? NameLabel, long? VirtualSize, bool? ReadOnly, bool? Sharable,
        IReadOnlyDictionary<string, string>? OtherConfig = null) : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.SrId).NotNull().InvalidValue("SR");
            RuleFor(c => c.NameLabel).NameLabel();
            RuleFor(c => c.VirtualSize).Required("virtual_size").GreaterThan(0).InvalidValue("virtual_size");
        }
    }

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command request, CancellationToken cancellationToken)
        {
            await session.GetAsync<Sr>(request.SrId!.Value, ObjectClass.Sr, cancellationToken);
            var id = Guid.NewGuid();
            session.Events.StartStream<Vdi>(id, new VdiCreated(
                id, request.SrId.Value, request.NameLabel!, request.VirtualSize!.Value, request.ReadOnly ?? false, request.Sharable ?? false, Managed: true,
                request.OtherConfig is { Count: > 0 } other ? new Dictionary<string, string>(other) : null));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }
    }
}
