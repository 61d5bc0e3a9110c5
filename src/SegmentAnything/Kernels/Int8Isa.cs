using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SegmentAnything.Kernels;

/// <summary>
/// Instruction sets of the int8 matrix kernels. .NET 10 exposes vpdpbusd only in its VEX form
/// (<see cref="System.Runtime.Intrinsics.X86.AvxVnni"/>, 256-bit, Alder Lake / Sapphire Rapids / Zen 5);
/// CPUs with only the EVEX form (AVX-512 VNNI: Cascade Lake, Ice Lake, Zen 4) run the AVX-512BW kernel.
/// </summary>
public enum Int8Isa
{
    Scalar,
    Avx2,
    Avx512BW,
    AvxVnni,
}

public static class Int8IsaInfo
{
    public static Int8Isa Best { get; } =
        AvxVnni.IsSupported ? Int8Isa.AvxVnni :
        Avx512BW.IsSupported && Vector512.IsHardwareAccelerated ? Int8Isa.Avx512BW :
        Avx2.IsSupported ? Int8Isa.Avx2 : Int8Isa.Scalar;

    public static bool IsSupported(Int8Isa isa) => isa switch
    {
        Int8Isa.Scalar => true,
        Int8Isa.Avx2 => Avx2.IsSupported,
        Int8Isa.Avx512BW => Avx512BW.IsSupported && Vector512.IsHardwareAccelerated,
        Int8Isa.AvxVnni => AvxVnni.IsSupported,
        _ => false,
    };

    public static string Describe(Int8Isa isa) => isa switch
    {
        Int8Isa.AvxVnni => "AVX-VNNI vpdpbusd",
        Int8Isa.Avx512BW => "AVX-512BW vpmaddubsw/vpmaddwd",
        Int8Isa.Avx2 => "AVX2 vpmaddubsw/vpmaddwd",
        _ => "scalar",
    };
}
