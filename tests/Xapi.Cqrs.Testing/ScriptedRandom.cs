namespace Xapi.Cqrs.Testing;

/// <summary>A <see cref="Random"/> whose NextDouble returns the given values in order (for placement draws).</summary>
public sealed class ScriptedRandom(params double[] values) : Random
{
    private int _next;

    /// <summary>How many values were taken.</summary>
    public int Taken => _next;

    public override double NextDouble() =>
        _next < values.Length ? values[_next++] : throw new InvalidOperationException($"only {values.Length} scripted values");

    protected override double Sample() => NextDouble();
}
