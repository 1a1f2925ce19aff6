using Shouldly;
using Xapi.Cqrs.Domain;

namespace Xapi.Cqrs.Domain.Tests;

/// <summary>Every refusal is asserted by code AND parameters, in xapi's order.</summary>
public static class XapiAssertions
{
    public static void ShouldBeError(this XapiException? error, string code, params string[] parameters)
    {
        error.ShouldNotBeNull($"expected {code}");
        error.Code.ShouldBe(code);
        error.Params.ShouldBe(parameters);
    }

    public static void ShouldThrowError(this Action action, string code, params string[] parameters) =>
        Should.Throw<XapiException>(action).ShouldBeError(code, parameters);

    public static void ShouldThrowError<T>(this Func<T> func, string code, params string[] parameters) =>
        Should.Throw<XapiException>(() => func()).ShouldBeError(code, parameters);
}
