using Shouldly;

namespace Xapi.Cqrs.Cli.Tests;

public sealed class RenderingTests
{
    [Theory]
    [InlineData(0L, "0 MiB")]
    [InlineData(512L << 20, "512 MiB")]
    [InlineData((1L << 30) - (1L << 20), "1023 MiB")]
    [InlineData(1L << 30, "1 GiB")]
    [InlineData(3L << 29, "1.5 GiB")]
    [InlineData(16L << 30, "16 GiB")]
    public void Bytes_are_shown_in_MiB_below_a_GiB_and_in_GiB_above(long bytes, string expected) =>
        Rendering.Bytes(bytes).ShouldBe(expected);
}
