using FluentValidation;
using MediatR;

namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>
/// Runs every FluentValidation validator of the request once, before its handler. The first failure
/// decides the xapi code and params (a rule states them with WithErrorCode/WithState); every failure
/// is listed in <c>errors</c>.
/// </summary>
public sealed class ValidationBehavior<TRequest, TResponse>(IEnumerable<IValidator<TRequest>> validators)
    : IPipelineBehavior<TRequest, TResponse>
{
    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        var failures = new List<FluentValidation.Results.ValidationFailure>();
        foreach (var validator in validators)
        {
            var result = await validator.ValidateAsync(request, cancellationToken);
            failures.AddRange(result.Errors);
        }

        if (failures.Count == 0)
        {
            return await next();
        }

        var first = failures[0];
        var code = XapiRules.IsXapiCode(first.ErrorCode) ? first.ErrorCode : Domain.ErrorCodes.InvalidValue;
        var parameters = first.CustomState as string[] ?? [first.PropertyName, first.AttemptedValue?.ToString() ?? ""];
        var errors = failures
            .GroupBy(f => ToCamel(f.PropertyName))
            .ToDictionary(g => g.Key, g => g.Select(f => f.ErrorMessage).Distinct().ToArray());
        throw new RequestValidationException(code, parameters, errors);
    }

    private static string ToCamel(string name) =>
        string.Join('.', name.Split('.').Select(p => p.Length == 0 ? p : char.ToLowerInvariant(p[0]) + p[1..]));
}
