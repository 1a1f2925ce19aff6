using FluentValidation;
using Marten;
using MediatR;
using Xapi.Cqrs.Application.Pipeline;
using Xapi.Cqrs.Domain.Storage;

namespace Xapi.Cqrs.Application.Inventory;

public static class CreateSr
{
    public sealed record Command(string? NameLabel, bool? Shared) : IRequest<Created>;

    public sealed class Validator : XapiValidator<Command>
    {
        public Validator() => RuleFor(c => c.NameLabel).NameLabel();
    }

    public sealed class Handler(IDocumentSession session) : IRequestHandler<Command, Created>
    {
        public async Task<Created> Handle(Command request, CancellationToken cancellationToken)
        {
            var id = Guid.NewGuid();
            session.Events.StartStream<Sr>(id, new SrCreated(id, request.NameLabel!, request.Shared ?? false));
            await session.SaveChangesAsync(cancellationToken);
            return new Created(id, 1);
        }
    }
}
