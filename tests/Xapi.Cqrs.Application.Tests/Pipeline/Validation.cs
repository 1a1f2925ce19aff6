using FluentValidation;
using MediatR;
using Shouldly;
using Xapi.Cqrs.Application.Pipeline;

namespace Xapi.Cqrs.Application.Tests.Pipeline;

/// <summary>Runs a request through the real <see cref="ValidationBehavior{TRequest,TResponse}"/> with one validator, no HTTP, no store.</summary>
public static class Validation
{
    private static readonly Created Answer = new(Guid.Empty, 1);

    /// <summary>The request passes: the behavior calls on to the handler.</summary>
    public static async Task Passes<TRequest>(TRequest request, IValidator<TRequest> validator)
        where TRequest : IRequest<Created>
    {
        var called = false;
        var behavior = new ValidationBehavior<TRequest, Created>([validator]);
        var result = await behavior.Handle(request, TestContext.Current.CancellationToken, () =>
        {
            called = true;
            return Task.FromResult(Answer);
        });
        called.ShouldBeTrue();
        result.ShouldBe(Answer);
    }

    /// <summary>The request is refused before the handler, with this code and exactly these params.</summary>
    public static async Task<RequestValidationException> Fails<TRequest>(TRequest request, IValidator<TRequest> validator, string code, params string[] parameters)
        where TRequest : IRequest<Created>
    {
        var e = await FailsWith(request, validator, code);
        e.Params.ShouldBe(parameters);
        return e;
    }

    /// <summary>The request is refused before the handler with this code; the caller checks the params.</summary>
    public static async Task<RequestValidationException> FailsWith<TRequest>(TRequest request, IValidator<TRequest> validator, string code)
        where TRequest : IRequest<Created>
    {
        var called = false;
        var behavior = new ValidationBehavior<TRequest, Created>([validator]);
        var e = await Should.ThrowAsync<RequestValidationException>(() => behavior.Handle(request, TestContext.Current.CancellationToken, () =>
        {
            called = true;
            return Task.FromResult(Answer);
        }));
        called.ShouldBeFalse();
        e.Code.ShouldBe(code);
        e.Errors.ShouldNotBeEmpty();
        return e;
    }
}
