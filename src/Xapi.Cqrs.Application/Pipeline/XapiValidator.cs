using FluentValidation;

namespace Xapi.Cqrs.Application.Pipeline;

/// <summary>Validators stop a rule at its first failure, so a missing value is reported as missing, not also as malformed.</summary>
public abstract class XapiValidator<T> : AbstractValidator<T>
{
    protected XapiValidator() => RuleLevelCascadeMode = CascadeMode.Stop;
}
